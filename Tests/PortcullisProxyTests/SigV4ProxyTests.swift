import Foundation
import Testing

@testable import PortcullisProxy

/// The `sigv4` authorizer through the real gateway: requests signed by botocore (header and
/// presigned forms, bodies, session tokens) reach the upstream; an unsigned request is Missing
/// Authentication Token; tampering with the body, the path or the query is refused with API
/// Gateway's message.
@Suite struct SigV4ProxyTests {
    struct Signed {
        var method: String
        var target: String
        var headers: [(String, String)]
        var body: [UInt8]
    }

    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("PortcullisAuthTests/Fixtures/sign_requests.py")

    static func signWithBotocore() throws -> (secret: String, token: String, requests: [Signed]) {
        let r = try runTool(["python3", fixture.path])
        try #require(r.code == 0, "sign_requests.py needs python3 with botocore (pip install -r Tests/requirements.txt): \(r.err)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let list = try #require(doc["requests"] as? [[String: Any]])
        let requests = try list.map { item -> Signed in
            let url = try #require(item["url"] as? String)
            let afterScheme = url.range(of: "://")!.upperBound
            let target = String(url[url[afterScheme...].firstIndex(of: "/")!...])
            return Signed(
                method: try #require(item["method"] as? String), target: target,
                headers: try #require(item["headers"] as? [[String]]).map { ($0[0], $0[1]) },
                body: Array(Data(base64Encoded: try #require(item["body"] as? String))!))
        }
        return (try #require(doc["secret"] as? String), try #require(doc["token"] as? String), requests)
    }

    static func config(secret: String, token: String) -> String {
        """
        workers: 1
        access_log: off
        listeners: [{ name: public, listen: "127.0.0.1:0" }]
        authorizers:
          iam:
            type: sigv4
            credentials:
              - { access_key_id: AKIAPORTCULLISTEST01, secret: "\(secret)", principal: "arn:aws:iam::123456789012:user/alice" }
              - access_key_id: ASIAPORTCULLISTEST02
                secret: "\(secret)"
                principal: "arn:aws:sts::123456789012:assumed-role/reader/session"
                session_token: "\(token)"
                expires: "2100-01-01T00:00:00Z"
        apis:
          - name: demo
            id: abc123
            stage: dev
            region: eu-west-1
            account: "123456789012"
            routes: [{ path: "/{proxy+}", upstream: backend, auth: [iam] }]
        upstreams:
          backend: { endpoints: ["http://${ECHO}"] }
        """
    }

    /// Sends a signed request; `chunked` frames the body in two chunks instead (Content-Length is
    /// not among the signed headers), `expectContinue` waits for 100 Continue before the body.
    func send(_ h: Harness, _ s: Signed, chunked: Bool = false, expectContinue: Bool = false) throws -> RawResponse {
        let c = try h.connect()
        var head = "\(s.method) \(s.target) HTTP/1.1\r\n"
        for (k, v) in s.headers where k.lowercased() != "content-length" { head += "\(k): \(v)\r\n" }
        if expectContinue { head += "Expect: 100-continue\r\n" }
        var body = s.body
        if chunked {
            head += "Transfer-Encoding: chunked\r\n\r\n"
            let half = body.count / 2
            let parts = [Array(body[..<half]), Array(body[half...])].filter { !$0.isEmpty }
            body = parts.flatMap { Array(String($0.count, radix: 16).utf8) + [13, 10] + $0 + [13, 10] } + Array("0\r\n\r\n".utf8)
        } else {
            head += "Content-Length: \(body.count)\r\n\r\n"
        }
        if expectContinue {
            c.send(head)
            let interim = try c.readResponse(keepInterim: true)
            #expect(interim.status == 100, "the body is asked for before admission")
            c.send(body)
        } else {
            c.send(Array(head.utf8) + body)
        }
        return try c.readResponse()
    }

    @Test func botocoreRequestsPassAndTamperingIsRefused() async throws {
        let signed = try Self.signWithBotocore()
        let h = try await Harness(Self.config(secret: signed.secret, token: signed.token))
        do {
            var passed = 0
            for s in signed.requests {
                let r = try send(h, s)
                if s.target.split(separator: "?", maxSplits: 1)[0].contains("%2F") {
                    // An encoded slash never reaches an upstream (it could read it as a separator).
                    #expect(r.status == 400, "\(s.method) \(s.target)")
                    continue
                }
                #expect(r.status == 200, "\(s.method) \(s.target): \(r.status) \(r.bodyText)")
                if r.status == 200 { passed += 1 }
                // The credentials stay at the gateway, as API Gateway drops a SigV4 Authorization.
                let upstreamSaw = r.json["headers"] as? [String: String] ?? [:]
                #expect(upstreamSaw["authorization"] == nil && upstreamSaw["x-amz-security-token"] == nil, "\(s.target)")
                #expect(upstreamSaw["x-amz-date"] != nil || s.target.contains("X-Amz-Date"), "\(s.target): other headers still go")
                if !s.body.isEmpty {
                    let echoed = r.json["body"] as? String
                    #expect(echoed == String(decoding: s.body, as: UTF8.self), "\(s.target): body forwarded after admission")
                }

                if !s.body.isEmpty {
                    for (chunked, expect) in [(true, false), (false, true), (true, true)] {
                        let r = try send(h, s, chunked: chunked, expectContinue: expect)
                        #expect(r.status == 200, "\(s.target) chunked \(chunked) expect \(expect): \(r.status) \(r.bodyText)")
                        #expect(r.json["body"] as? String == String(decoding: s.body, as: UTF8.self))
                    }
                }

                var body = s
                body.body += Array("!".utf8)
                var query = s
                query.target += s.target.contains("?") ? "&extra=1" : "?extra=1"
                var path = s
                path.target = path.target.replacingOccurrences(of: "/dev/", with: "/dev/x/")
                for (what, t) in [("body", body), ("query", query), ("path", path)] {
                    let refused = try send(h, t)
                    #expect(refused.status == 403, "\(s.target): tampered \(what) got \(refused.status)")
                    #expect(refused.header("x-amzn-ErrorType") == "InvalidSignatureException", "\(s.target): tampered \(what)")
                    #expect(refused.bodyText.contains("The request signature we calculated does not match"), "\(s.target): tampered \(what)")
                }
            }
            #expect(passed >= 30)

            // curl's own SigV4 signer, as a user would sign by hand.
            let base = "http://127.0.0.1:\(h.port)/dev"
            func curl(_ user: String, _ extra: [String]) throws -> String {
                try runTool(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--aws-sigv4", "aws:amz:eu-west-1:execute-api", "--user", user] + extra).out
            }
            let alice = "AKIAPORTCULLISTEST01:\(signed.secret)"
            #expect(try curl(alice, ["\(base)/items/42?a=1&b=2"]) == "200")
            #expect(try curl(alice, ["-X", "POST", "-H", "Content-Type: application/json", "-d", #"{"n":1}"#, "\(base)/items"]) == "200")
            #expect(try curl("AKIAPORTCULLISTEST01:wrong", ["\(base)/items/42"]) == "403")

            // `portcullis sign`, the gateway's own command: headers, and a presigned URL.
            func sign(_ args: [String]) throws -> String {
                let r = try runTool(
                    [CommandLineTests.binary, "sign", "--access-key", "AKIAPORTCULLISTEST01", "--secret", signed.secret, "--region", "eu-west-1"] + args)
                try #require(r.code == 0, "portcullis sign failed: \(r.err)")
                return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let signedHeaders = try sign(["-X", "PUT", "-d", "body", "\(base)/items/a%20b?z=1&a=2"]).split(separator: "\n").map { line in
                let colon = line.firstIndex(of: ":")!
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
            let put = Signed(method: "PUT", target: "/dev/items/a%20b?z=1&a=2", headers: [("Host", "127.0.0.1:\(h.port)")] + signedHeaders, body: Array("body".utf8))
            #expect(try send(h, put).status == 200)
            let presignedURL = try sign(["--presign", "--expires", "60", "\(base)/items/caf%C3%A9?q=a%20b"])
            let presignedTarget = String(presignedURL[presignedURL.range(of: "/dev/")!.lowerBound...])
            #expect(try send(h, Signed(method: "GET", target: presignedTarget, headers: [("Host", "127.0.0.1:\(h.port)")], body: [])).status == 200)

            let unsigned = try h.get("/dev/items")
            #expect(unsigned.status == 403)
            #expect(unsigned.bodyText == #"{"message":"Missing Authentication Token"}"#)
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }
}
