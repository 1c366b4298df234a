import Foundation
import PortcullisTLS
import Testing

@testable import PortcullisAuth

/// The official SigV4 test suite, in both of its layouts (`../shared/vectors/`), verified the way
/// a server does: from the signed request as received, recompute the canonical request, the
/// string to sign and the signature, and compare each with the suite's. Cases that only apply to
/// S3 (`*-unnormalized`: paths left as sent) are left out.
@Suite struct SigV4VectorTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/vectors")
    static let classic = root.appendingPathComponent("aws-sig-v4-test-suite")
    static let repackaged = root.appendingPathComponent("aws-signing-test-suite/v4")
    static var present: Bool { FileManager.default.fileExists(atPath: classic.path) }
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

    /// A raw request file: request line, `Name:value` lines (folded lines continue the previous
    /// value), a blank line, the body.
    struct RawRequest {
        var method = ""
        var path: [UInt8] = []
        var query: [UInt8] = []
        var headers: [(String, String)] = []
        var body: [UInt8] = []

        init(method: String, path: [UInt8], query: [UInt8], headers: [(String, String)], body: [UInt8]) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.body = body
        }

        init(_ text: String) {
            var lines = text.components(separatedBy: "\n")
            let requestLine = lines.removeFirst()
            let first = requestLine.firstIndex(of: " ")!, last = requestLine.lastIndex(of: " ")!
            method = String(requestLine[..<first])
            let target = Array(requestLine[requestLine.index(after: first)..<last].utf8)
            if let q = target.firstIndex(of: 0x3F) {
                path = Array(target[..<q])
                query = Array(target[(q + 1)...])
            } else {
                path = target
            }
            while !lines.isEmpty {
                let line = lines.removeFirst()
                if line.isEmpty { break }
                if line.first == " " || line.first == "\t", !headers.isEmpty {
                    headers[headers.count - 1].1 += " " + line
                    continue
                }
                let colon = line.firstIndex(of: ":")!
                // As an HTTP parser does: optional whitespace around the value is not part of it.
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                headers.append((String(line[..<colon]), value))
            }
            body = Array(lines.joined(separator: "\n").utf8)
        }

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name }?.1 }

        /// Query parameters decoded, for reading the presigned X-Amz-* values.
        /// Decoded as the verifier decodes them.
        var queryParameters: [(String, String)] {
            SigV4Request(method: method, wirePath: path, wireQuery: query, headers: headers).queryParameters
        }
    }

    struct Outcome {
        var canonical: String
        var stringToSign: String
        var signature: String
        var claimed: String
    }

    /// What a server computes for a signed request.
    static func verify(_ r: RawRequest, secret: String = secret) throws -> Outcome {
        let auth: SigV4Authorization
        let amzDate: String
        var omit: String? = nil
        if let header = r.header("authorization") {
            auth = try SigV4Authorization.parse(header: header).get()
            amzDate = try #require(r.header("x-amz-date"))
        } else {
            let params = r.queryParameters
            auth = try #require(SigV4Authorization.parse(query: params)).get()
            amzDate = try #require(params.first { $0.0 == "X-Amz-Date" }?.1)
            omit = "X-Amz-Signature"
        }
        let canonical = try #require(
            SigV4.canonicalRequest(
                method: r.method, wirePath: r.path, wireQuery: r.query, headers: r.headers, signedHeaders: auth.signedHeaders,
                payloadHash: SigV4.hexSHA256(r.body), omittingQuery: omit))
        let sts = SigV4.stringToSign(amzDate: amzDate, scope: auth.credential.scope, canonicalRequest: canonical)
        let key = SigV4.signingKey(
            secret: secret, date: auth.credential.date, region: auth.credential.region, service: auth.credential.service)
        return Outcome(canonical: canonical, stringToSign: sts, signature: SigV4.signature(key: key, stringToSign: sts), claimed: auth.signature)
    }

    static func read(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }

    /// Case folders of the classic layout (one level of grouping folders, like normalize-path/).
    static func classicCases() -> [URL] {
        guard present else { return [] }
        var out: [URL] = []
        func walk(_ dir: URL) {
            let items = (try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? []
            for item in items.sorted(by: { $0.path < $1.path }) where item.hasDirectoryPath {
                if FileManager.default.fileExists(atPath: item.appendingPathComponent(item.lastPathComponent + ".sreq").path) {
                    out.append(item)
                } else {
                    walk(item)
                }
            }
        }
        walk(classic)
        return out
    }

    @Test(.enabled(if: present, "../shared/vectors is absent: the SigV4 suite cannot run"))
    func classicLayout() throws {
        let cases = Self.classicCases()
        #expect(cases.count >= 30)
        for dir in cases {
            let name = dir.lastPathComponent
            let file = { (ext: String) in dir.appendingPathComponent("\(name).\(ext)") }
            let outcome = try Self.verify(RawRequest(try Self.read(file("sreq"))))
            #expect(outcome.canonical == (try Self.read(file("creq"))), "\(name): canonical request")
            #expect(outcome.stringToSign == (try Self.read(file("sts"))), "\(name): string to sign")
            // The `.authz` file is the reference: the classic suite's get-vanilla-with-session-token
            // `.sreq` carries get-vanilla's signature in its Authorization line.
            #expect((try Self.read(file("authz"))).hasSuffix("Signature=" + outcome.signature), "\(name): signature")
        }
    }

    @Test(.enabled(if: present, "../shared/vectors is absent: the SigV4 suite cannot run"))
    func repackagedLayoutHeaderAndPresigned() throws {
        let cases = try FileManager.default.contentsOfDirectory(at: Self.repackaged, includingPropertiesForKeys: nil)
            .filter { $0.hasDirectoryPath && !$0.lastPathComponent.hasSuffix("-unnormalized") }
            .sorted { $0.path < $1.path }
        #expect(cases.count >= 30)
        for dir in cases {
            let name = dir.lastPathComponent
            for form in ["header", "query"] {
                let signed = dir.appendingPathComponent("\(form)-signed-request.txt")
                guard FileManager.default.fileExists(atPath: signed.path) else { continue }
                // A session token added to a presigned URL after signing: a server cannot tell it
                // from a signed one (every query parameter but the signature is signed), and API
                // Gateway documents no exception. Its header form, an unsigned header, is checked.
                if name == "post-sts-header-after" && form == "query" { continue }
                let outcome = try Self.verify(RawRequest(try Self.read(signed)))
                let expected = { (f: String) in (try? Self.read(dir.appendingPathComponent("\(form)-\(f).txt"))) ?? "" }
                #expect(outcome.canonical == expected("canonical-request"), "\(name) \(form): canonical request")
                #expect(outcome.stringToSign == expected("string-to-sign"), "\(name) \(form): string to sign")
                #expect(outcome.signature == expected("signature").trimmingCharacters(in: .whitespacesAndNewlines), "\(name) \(form): signature")
                #expect(outcome.signature == outcome.claimed, "\(name) \(form): claimed signature")
            }
        }
    }
}

/// The signer, checked against the same suite in reverse: signing each suite request at the
/// suite's time gives the suite's Authorization header; what it signs, the verifier accepts.
@Suite struct SigV4SignerTests {
    @Test(.enabled(if: SigV4VectorTests.present, "../shared/vectors is absent: the SigV4 suite cannot run"))
    func signerReproducesTheSuite() throws {
        let signer = SigV4Signer(accessKeyID: "AKIDEXAMPLE", secret: SigV4VectorTests.secret, region: "us-east-1", service: "service")
        for dir in SigV4VectorTests.classicCases() {
            let name = dir.lastPathComponent
            let r = SigV4VectorTests.RawRequest(try SigV4VectorTests.read(dir.appendingPathComponent("\(name).req")))
            let target = String(decoding: r.path, as: UTF8.self) + (r.query.isEmpty ? "" : "?" + String(decoding: r.query, as: UTF8.self))
            let time = SigV4Time.parseAmzDate(try #require(r.header("x-amz-date")))!
            // A case that signs a session token the raw request lacks: the signer adds it (in
            // post-sts-header-after the token is added after signing, unsigned).
            var signer = signer
            let authz = try SigV4VectorTests.read(dir.appendingPathComponent("\(name).authz"))
            if r.header("x-amz-security-token") == nil && authz.contains("x-amz-security-token") {
                signer.sessionToken = SigV4VectorTests.RawRequest(try SigV4VectorTests.read(dir.appendingPathComponent("\(name).sreq")))
                    .header("x-amz-security-token")
            }
            let added = signer.headers(
                for: .init(method: r.method, host: r.header("host") ?? "", target: target, headers: r.headers, body: r.body), time: time)
            #expect(added.first { $0.0 == "Authorization" }?.1 == authz, "\(name)")
        }
    }

    @Test func signedRequestsVerify() {
        let signer = SigV4Signer(accessKeyID: "AKIAME", secret: "s3cr3t", sessionToken: "tok", region: "eu-west-1")
        let verifier = SigV4Verifier(credentials: [
            SigV4Credential(accessKeyID: "AKIAME", secret: "s3cr3t", principalARN: "arn:aws:iam::1:user/me", sessionToken: "tok", expires: .max)
        ])
        let now: Int64 = 1_800_000_000
        let body = Array(#"{"a":1}"#.utf8)
        let r = SigV4Signer.Request(method: "POST", host: "api.local", target: "/dev/items/a%20b?x=2&a=1", headers: [("Content-Type", "application/json")], body: body)
        let signedHeaders = [("Host", "api.local"), ("Content-Type", "application/json")] + signer.headers(for: r, time: now)
        let header = SigV4Request(
            method: "POST", wirePath: Array("/dev/items/a%20b".utf8), wireQuery: Array("x=2&a=1".utf8), headers: signedHeaders,
            payloadHash: SigV4.hexSHA256(body))
        guard case .verified = verifier.verify(header, region: "eu-west-1", now: now + 10) else {
            Issue.record("a header-signed request must verify: \(verifier.verify(header, region: "eu-west-1", now: now + 10))")
            return
        }
        let get = SigV4Signer.Request(method: "GET", host: "api.local", target: "/dev/items?q=1")
        let presigned = signer.presignedTarget(for: get, time: now, expires: 60)
        let parts = presigned.split(separator: "?", maxSplits: 1)
        let query = SigV4Request(method: "GET", wirePath: Array(parts[0].utf8), wireQuery: Array(parts[1].utf8), headers: [("Host", "api.local")])
        guard case .verified = verifier.verify(query, region: "eu-west-1", now: now + 59) else {
            Issue.record("a presigned URL must verify: \(verifier.verify(query, region: "eu-west-1", now: now + 59))")
            return
        }
        guard case .refused = verifier.verify(query, region: "eu-west-1", now: now + 61) else {
            Issue.record("a presigned URL must expire")
            return
        }
    }
}
