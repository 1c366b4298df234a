import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import PortcullisAuth
@testable import PortcullisProxy

/// Issue 16, "Bad input", through the real gateway on loopback: malformed signatures, non-UTF-8
/// and overlong paths, duplicated presigned parameters, a signed request sent to another Host,
/// both signing forms at once, and unreadable dates. Each gets a gateway JSON error (403, or the
/// head limits' 4xx) and nothing reaches the upstream, which records every byte it receives; a
/// valid request on a new connection is served afterwards.
@Suite struct SigV4AdversarialProxyTests {
    static let keyID = "AKIAADVERSARIAL00001"
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYADVERSARY"
    static let region = "eu-west-1"

    static func config(upstreamPort: Int) -> String {
        """
        workers: 1
        access_log: off
        listeners: [{ name: public, listen: "127.0.0.1:0" }]
        authorizers:
          iam:
            type: sigv4
            credentials:
              - { access_key_id: \(keyID), secret: "\(secret)", principal: "arn:aws:iam::123456789012:user/mallory" }
        apis:
          - name: demo
            id: abc123
            stage: dev
            region: \(region)
            account: "123456789012"
            routes: [{ path: "/{proxy+}", upstream: backend, auth: [iam] }]
        upstreams:
          backend: { endpoints: ["http://127.0.0.1:\(upstreamPort)"] }
        """
    }

    /// A gateway in front of a recording upstream, for one test.
    func withGateway(_ body: (Harness, RecordingEcho) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await RecordingEcho.start(group: group)
        let h = try await Harness(Self.config(upstreamPort: upstream.port), startEcho: false)
        do { try await body(h, upstream) } catch { Issue.record("\(error)") }
        await h.stop()
        await upstream.close()
        try? await group.shutdownGracefully()
    }

    static let signer = SigV4Signer(accessKeyID: keyID, secret: secret, region: region)
    static var now: Int64 { Int64(Date().timeIntervalSince1970) }

    /// `GET target` with the headers, as raw bytes (the target may hold any byte).
    static func head(_ target: [UInt8], _ headers: [(String, String)], method: String = "GET") -> [UInt8] {
        var out = Array("\(method) ".utf8) + target + Array(" HTTP/1.1\r\n".utf8)
        for (k, v) in headers { out += Array("\(k): \(v)\r\n".utf8) }
        return out + Array("\r\n".utf8)
    }

    /// The Host, X-Amz-Date and Authorization an SDK sends for `GET target` to the gateway.
    static func signedHeaders(_ h: Harness, _ target: String, host: String? = nil) -> [(String, String)] {
        let host = host ?? "127.0.0.1:\(h.port)"
        return [("Host", host)] + signer.headers(for: .init(method: "GET", host: host, target: target), time: now)
    }

    static func send(_ h: Harness, _ bytes: [UInt8]) throws -> RawResponse {
        let c = try h.connect()
        c.send(bytes)
        return try c.readResponse()
    }

    /// A gateway answer, not the upstream's: a 4xx (`status` when given) with the gateway's JSON
    /// error body and request id, and `errorType` when given.
    static func expectGatewayRefusal(
        _ r: RawResponse, status: Int? = 403, errorType: String? = nil, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect((400..<500).contains(r.status), "\(what): \(r.status) \(r.bodyText.prefix(200))", sourceLocation: sourceLocation)
        if let status { #expect(r.status == status, "\(what): \(r.status) \(r.bodyText.prefix(200))", sourceLocation: sourceLocation) }
        #expect(r.header("Content-Type") == "application/json", "\(what)", sourceLocation: sourceLocation)
        #expect(r.header("x-amzn-RequestId") != nil, "\(what)", sourceLocation: sourceLocation)
        #expect(r.json["message"] is String, "\(what): \(r.bodyText.prefix(200))", sourceLocation: sourceLocation)
        #expect(r.json["path"] == nil && r.json["headers"] == nil, "\(what): the upstream's echo came back", sourceLocation: sourceLocation)
        if let errorType { #expect(r.header("x-amzn-ErrorType") == errorType, "\(what): \(r.bodyText.prefix(200))", sourceLocation: sourceLocation) }
    }

    /// After the refusals: the upstream has seen nothing, and a good request on a new connection
    /// goes through (the gateway is alive and still admits).
    static func expectNothingForwardedThenServes(_ h: Harness, _ upstream: RecordingEcho, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(upstream.connections == 0 && upstream.bytesReceived == 0, "the upstream saw: \(upstream.receivedText.prefix(300))", sourceLocation: sourceLocation)
        let ok = try send(h, head(Array("/dev/items/after".utf8), signedHeaders(h, "/dev/items/after")))
        #expect(ok.status == 200, "\(ok.status) \(ok.bodyText)", sourceLocation: sourceLocation)
        #expect(ok.json["path"] as? String == "/items/after", sourceLocation: sourceLocation)
        #expect(upstream.receivedText.components(separatedBy: " HTTP/1.1\r\n").count == 2, "one request upstream", sourceLocation: sourceLocation)
    }

    @Test func malformedAuthorizationHeadersAreRefusedAndNotForwarded() async throws {
        try await withGateway { h, upstream in
            let good = Self.signedHeaders(h, "/dev/items/1")
            let auth = good.first { $0.0 == "Authorization" }!.1
            let sig = String(auth.suffix(64))
            let credential = "\(Self.keyID)/\(auth.split(separator: "/")[1])/\(Self.region)/execute-api/aws4_request"
            func with(_ value: String) -> [UInt8] {
                Self.head(Array("/dev/items/1".utf8), good.map { $0.0 == "Authorization" ? ($0.0, value) : $0 })
            }
            let alg = "AWS4-HMAC-SHA256", sh = "host;x-amz-date"
            let names1000 = "host;" + (0..<1000).map { "x-h\($0)" }.joined(separator: ";")
            let names10000 = "host;" + (0..<10_000).map { "x-h\($0)" }.joined(separator: ";")
            var flipped = Array(sig.utf8)
            flipped[10] = flipped[10] == 0x30 ? 0x31 : 0x30
            let incomplete = "IncompleteSignatureException", invalid = "InvalidSignatureException"
            let table: [(String, [UInt8], Int, String?)] = [
                ("bearer token", with("Bearer abc"), 403, incomplete),
                ("lower-case algorithm", with("aws4-hmac-sha256 Credential=\(credential), SignedHeaders=\(sh), Signature=\(sig)"), 403, incomplete),
                ("no Signature", with("\(alg) Credential=\(credential), SignedHeaders=\(sh)"), 403, incomplete),
                ("Credential of four parts", with("\(alg) Credential=\(Self.keyID)/20260101/\(Self.region)/execute-api, SignedHeaders=\(sh), Signature=\(sig)"), 403, incomplete),
                ("Credential twice", with("\(alg) Credential=AKIAOTHERKEY00000001/20260101/\(Self.region)/execute-api/aws4_request, Credential=\(credential), SignedHeaders=\(sh), Signature=\(sig)"), 403, incomplete),
                ("Signature twice", with("\(alg) Credential=\(credential), SignedHeaders=\(sh), Signature=\(sig), Signature=\(sig)"), 403, incomplete),
                ("SignedHeaders unsorted", with("\(alg) Credential=\(credential), SignedHeaders=x-amz-date;host, Signature=\(sig)"), 403, incomplete),
                ("SignedHeaders without host", with("\(alg) Credential=\(credential), SignedHeaders=x-amz-date, Signature=\(sig)"), 403, incomplete),
                ("wrong service", with("\(alg) Credential=\(Self.keyID)/20260101/\(Self.region)/s3/aws4_request, SignedHeaders=\(sh), Signature=\(sig)"), 403, invalid),
                ("non-hex signature", with("\(alg) Credential=\(credential), SignedHeaders=\(sh), Signature=\(String(repeating: "z", count: 64))"), 403, incomplete),
                ("a wrong signature", with("\(alg) Credential=\(credential), SignedHeaders=\(sh), Signature=\(String(decoding: flipped, as: UTF8.self))"), 403, invalid),
                ("1,000 signed headers", with("\(alg) Credential=\(credential), SignedHeaders=\(names1000), Signature=\(sig)"), 403, incomplete),
                // Header lines over the gateway's 8 KiB line limit are refused before any authorizer.
                ("10,000 signed headers", with("\(alg) Credential=\(credential), SignedHeaders=\(names10000), Signature=\(sig)"), 431, nil),
                ("a 60 KiB header", with("\(alg) Credential=\(String(repeating: "A", count: 60 * 1024))"), 431, nil),
                ("a byte 0xFF in the credential", Array(Self.head(Array("/dev/items/1".utf8), good.filter { $0.0 != "Authorization" }).dropLast(2))
                    + Array("Authorization: \(alg) Credential=AKIA".utf8) + [0xFF] + Array("/20260101/\(Self.region)/execute-api/aws4_request, SignedHeaders=\(sh), Signature=\(sig)\r\n\r\n".utf8), 403, nil),
            ]
            for (what, bytes, status, errorType) in table {
                Self.expectGatewayRefusal(try Self.send(h, bytes), status: status, errorType: errorType, what)
            }
            try await Self.expectNothingForwardedThenServes(h, upstream)
        }
    }

    @Test func nonUTF8AndOverlongPathsAreRefusedAndNotForwarded() async throws {
        try await withGateway { h, upstream in
            let forged = { (target: String) -> [(String, String)] in
                // A well-formed header whose signature is someone's guess.
                var headers = Self.signedHeaders(h, target)
                headers = headers.map { $0.0 == "Authorization" ? ($0.0, String($0.1.dropLast(64)) + String(repeating: "0", count: 64)) : $0 }
                return headers
            }
            let host = [("Host", "127.0.0.1:\(h.port)")]
            let raw: [UInt8] = Array("/dev/items/".utf8) + [0xFF, 0xFE, 0x80] + Array("/x".utf8)
            let long = "/dev/" + String(repeating: "a", count: 9 * 1024)
            let longEncoded = "/dev/" + String(repeating: "%FF", count: 3 * 1024)
            let tooLong = "/dev/" + String(repeating: "a", count: 20 * 1024)
            let table: [(String, [UInt8], Int?, String?)] = [
                // Not UTF-8: refused before routing (PathSafety), whoever signed it.
                ("raw 0xFF in the path, unsigned", Self.head(raw, host), 400, nil),
                ("raw 0xFF in the path, forged", Self.head(raw, forged("/dev/items/x")), 400, nil),
                ("raw 0xFF in the query, forged", Self.head(Array("/dev/items/1?q=".utf8) + [0xFF], forged("/dev/items/1?q=x")), 403, "InvalidSignatureException"),
                ("9 KiB path, unsigned", Self.head(Array(long.utf8), host), 403, "MissingAuthenticationTokenException"),
                ("9 KiB path, forged", Self.head(Array(long.utf8), forged(long)), 403, "InvalidSignatureException"),
                ("9 KiB of %FF, unsigned", Self.head(Array(longEncoded.utf8), host), 403, "MissingAuthenticationTokenException"),
                ("9 KiB of %FF, forged", Self.head(Array(longEncoded.utf8), forged(longEncoded)), 403, "InvalidSignatureException"),
                ("20 KiB path", Self.head(Array(tooLong.utf8), forged(tooLong)), 431, nil),
            ]
            for (what, bytes, status, errorType) in table {
                Self.expectGatewayRefusal(try Self.send(h, bytes), status: status, errorType: errorType, what)
            }
            try await Self.expectNothingForwardedThenServes(h, upstream)
        }
    }

    @Test func presignedDuplicatesAnotherHostAndBothFormsAreRefusedAndNotForwarded() async throws {
        try await withGateway { h, upstream in
            let host = "127.0.0.1:\(h.port)"
            let presigned = Self.signer.presignedTarget(for: .init(method: "GET", host: host, target: "/dev/items/1"), time: Self.now, expires: 60)
            let sig = String(presigned.suffix(64))
            let date = presigned.split(separator: "&").first { $0.hasPrefix("X-Amz-Date=") }!
            let good = Self.signedHeaders(h, "/dev/items/1")
            let table: [(String, [UInt8], String)] = [
                ("X-Amz-Signature twice", Self.head(Array((presigned + "&X-Amz-Signature=\(sig)").utf8), [("Host", host)]), "IncompleteSignatureException"),
                ("X-Amz-Signature twice, once encoded", Self.head(Array((presigned + "&X-Amz-Signatur%65=\(sig)").utf8), [("Host", host)]), "IncompleteSignatureException"),
                ("X-Amz-Date twice", Self.head(Array((presigned + "&\(date)").utf8), [("Host", host)]), "IncompleteSignatureException"),
                ("X-Amz-Expires negative", Self.head(Array(presigned.replacingOccurrences(of: "X-Amz-Expires=60", with: "X-Amz-Expires=-60").utf8), [("Host", host)]), "IncompleteSignatureException"),
                ("presigned, another Host", Self.head(Array(presigned.utf8), [("Host", "evil.example.com")]), "InvalidSignatureException"),
                ("header-signed, another Host", Self.head(Array("/dev/items/1".utf8), good.map { $0.0 == "Host" ? ($0.0, "evil.example.com") : $0 }), "InvalidSignatureException"),
                ("header-signed, a second Host", Self.head(Array("/dev/items/1".utf8), good + [("Host", "evil.example.com")]), ""),
                ("presigned plus an Authorization header", Self.head(Array(presigned.utf8), good), "IncompleteSignatureException"),
                ("presigned plus a bearer token", Self.head(Array(presigned.utf8), [("Host", host), ("Authorization", "Bearer x")]), "IncompleteSignatureException"),
            ]
            for (what, bytes, errorType) in table {
                let r = try Self.send(h, bytes)
                if errorType.isEmpty {
                    // Two Host headers are a framing error the head parser refuses (400) before any authorizer.
                    Self.expectGatewayRefusal(r, status: nil, what)
                } else {
                    Self.expectGatewayRefusal(r, errorType: errorType, what)
                }
            }
            try await Self.expectNothingForwardedThenServes(h, upstream)
        }
    }

    /// Two Authorization headers: the first is the one verified (a second never rescues a bad
    /// first), and neither value ever reaches the upstream.
    @Test func aSecondAuthorizationHeaderNeverTravels() async throws {
        try await withGateway { h, upstream in
            let good = Self.signedHeaders(h, "/dev/items/1")
            let badFirst = good.filter { $0.0 != "Authorization" } + [("Authorization", "Bearer smuggled")] + good.filter { $0.0 == "Authorization" }
            Self.expectGatewayRefusal(
                try Self.send(h, Self.head(Array("/dev/items/1".utf8), badFirst)), errorType: "IncompleteSignatureException", "a bearer token before the signature")
            #expect(upstream.bytesReceived == 0)

            let r = try Self.send(h, Self.head(Array("/dev/items/1".utf8), good + [("Authorization", "Bearer smuggled")]))
            if r.status != 200 { Self.expectGatewayRefusal(r, "a bearer token after the signature") }
            #expect(!upstream.receivedText.contains("smuggled") && !upstream.receivedText.contains("AWS4-HMAC-SHA256"), "\(upstream.receivedText)")
        }
    }

    /// Dates whose numbers no calendar holds: refused with the ISO-8601 message. The date
    /// arithmetic once overflowed on them, which trapped and took the gateway process down.
    @Test func datesWithHugeYearsAreRefusedAndTheGatewayLives() async throws {
        try await withGateway { h, upstream in
            let good = Self.signedHeaders(h, "/dev/items/1")
            let host = "127.0.0.1:\(h.port)"
            for bad in ["Thu, 01 Jan 99999999999999 00:00:00 GMT", "Thu, 01 Jan -9223372036854775808 00:00:00 GMT"] {
                let viaDate = good.filter { $0.0 != "X-Amz-Date" } + [("Date", bad)]
                let viaAmzDate = good.map { $0.0 == "X-Amz-Date" ? ($0.0, bad) : $0 }
                let encoded = bad.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let presigned = Self.signer.presignedTarget(for: .init(method: "GET", host: host, target: "/dev/items/1"), time: Self.now, expires: 60)
                let withBadDate = presigned.split(separator: "&").map { $0.hasPrefix("X-Amz-Date=") ? "X-Amz-Date=\(encoded)" : String($0) }.joined(separator: "&")
                for (what, bytes) in [
                    ("Date \(bad)", Self.head(Array("/dev/items/1".utf8), viaDate)),
                    ("X-Amz-Date \(bad)", Self.head(Array("/dev/items/1".utf8), viaAmzDate)),
                    ("presigned X-Amz-Date \(bad)", Self.head(Array(withBadDate.utf8), [("Host", host)])),
                ] {
                    let r = try Self.send(h, bytes)
                    Self.expectGatewayRefusal(r, errorType: "InvalidSignatureException", what)
                    #expect((r.json["message"] as? String)?.hasPrefix("Date must be in ISO-8601 'basic format'. Got '\(bad)'.") == true, "\(what): \(r.bodyText)")
                }
            }
            try await Self.expectNothingForwardedThenServes(h, upstream)
        }
    }
}
