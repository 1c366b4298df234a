import Foundation
import Testing

@testable import PortcullisAuth

/// Requests signed by botocore (an independent SigV4 implementation, `Fixtures/sign_requests.py`)
/// for `execute-api`, in header and presigned form, with paths holding spaces, unicode and
/// reserved characters, repeated query keys, `+` in queries, bodies and session tokens: each
/// verifies as Portcullis reads it off the wire, and any tampering breaks it.
@Suite struct SigV4InteropTests {
    struct Signed {
        let secret: String
        let requests: [SigV4VectorTests.RawRequest]
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func signWithBotocore() throws -> Signed {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", fixtures.appendingPathComponent("sign_requests.py").path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(
            process.terminationStatus == 0,
            "sign_requests.py needs python3 with botocore (pip install -r Tests/requirements.txt): \(String(decoding: errors, as: UTF8.self))")
        let doc = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let list = try #require(doc["requests"] as? [[String: Any]])
        let requests = try list.map { r -> SigV4VectorTests.RawRequest in
            let url = try #require(r["url"] as? String)
            // https://HOST/path?query: the target starts at the first slash after the scheme.
            let afterScheme = url.range(of: "://")!.upperBound
            let target = Array(url[url[afterScheme...].firstIndex(of: "/")!...].utf8)
            let q = target.firstIndex(of: 0x3F)
            let headers = try #require(r["headers"] as? [[String]]).map { ($0[0], $0[1]) }
            return SigV4VectorTests.RawRequest(
                method: try #require(r["method"] as? String), path: Array(target[..<(q ?? target.endIndex)]),
                query: q.map { Array(target[($0 + 1)...]) } ?? [], headers: headers,
                body: Array(Data(base64Encoded: try #require(r["body"] as? String))!))
        }
        return Signed(secret: try #require(doc["secret"] as? String), requests: requests)
    }

    @Test func botocoreSignaturesVerifyAndTamperingBreaksThem() throws {
        let signed = try Self.signWithBotocore()
        #expect(signed.requests.count >= 30)
        for r in signed.requests {
            let label = "\(r.method) \(String(decoding: r.path + [0x3F] + r.query, as: UTF8.self))"
            let outcome = try SigV4VectorTests.verify(r, secret: signed.secret)
            #expect(outcome.signature == outcome.claimed, "\(label)")

            var tampered: [(String, SigV4VectorTests.RawRequest)] = []
            var path = r
            path.path += Array("x".utf8)
            tampered.append(("path", path))
            var query = r
            query.query += Array((r.query.isEmpty ? "z=1" : "&z=1").utf8)
            tampered.append(("query", query))
            var header = r
            if let i = header.headers.firstIndex(where: { $0.0.lowercased() == "host" }) {
                header.headers[i].1 = "evil.example.com"
                tampered.append(("signed header", header))
            }
            if !r.body.isEmpty {
                var body = r
                body.body[0] ^= 1
                tampered.append(("body", body))
            }
            for (what, t) in tampered {
                let o = try SigV4VectorTests.verify(t, secret: signed.secret)
                #expect(o.signature != o.claimed, "\(label): tampered \(what) still verifies")
            }
        }
    }
}
