import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import PortcullisProxy

/// Real sockets on 127.0.0.1: the gateway in front of the echo upstream.
@Suite struct ProxyIntegrationTests {
    static let config = """
        workers: 1
        access_log: off
        listeners:
          - { name: public, listen: "127.0.0.1:0" }
        limits: { header_timeout: 400ms, max_body_size: 1MiB, max_header_size: 8KiB }
        trusted_proxies: [10.0.0.0/8]
        apis:
          - name: demo
            stage: demo
            routes:
              - { path: /public, methods: [GET, HEAD], upstream: backend }
              - { path: "/items/{id}", methods: [GET, POST], upstream: backend }
              - path: /items/special
                methods: [GET]
                upstream: backend
                set_headers: { X-Special: "yes" }
                remove_headers: [X-Secret]
              - { path: "/files/{proxy+}", methods: [ANY], upstream: backend }
              - { path: /slow, upstream: backend, timeout: 300ms }
              - { path: /dead, upstream: dead }
              - { path: /big, methods: [POST, GET], upstream: backend, max_body_size: 64MiB }
              - { path: /denied, upstream: backend, auth: [no-loopback] }
              - { path: /either, upstream: backend, auth: [{any_of: [no-loopback, loopback-only]}] }
          - name: httpapi
            stage: v2
            not_found: http
            routes:
              - { path: /ok, upstream: backend }
        authorizers:
          no-loopback: { type: ip, deny: [127.0.0.0/8] }
          loopback-only: { type: ip, allow: [127.0.0.1/32] }
        upstreams:
          backend: { endpoints: ["http://${ECHO}"] }
          dead: { endpoints: ["http://${DEAD}"], eject_base: 5s }
        """

    func withHarness(_ yaml: String = Self.config, _ body: (Harness) async throws -> Void) async throws {
        let h = try await Harness(yaml)
        do {
            try await body(h)
        } catch {
            await h.stop()
            throw error
        }
        await h.stop()
    }

    @Test func routesByStageTemplateAndGreedyPath() async throws {
        try await withHarness { h in
            let r = try h.get("/demo/public?q=1", headers: ["X-Forwarded-For": "6.6.6.6", "X-Request-Id": "spoofed"])
            #expect(r.status == 200)
            #expect(r.json["path"] as? String == "/public")
            #expect(r.json["query"] as? String == "q=1")
            let hdrs = r.json["headers"] as? [String: String] ?? [:]
            // The peer (127.0.0.1) is not a trusted proxy: its X-Forwarded-For and request id are replaced.
            #expect(hdrs["x-forwarded-for"] == "127.0.0.1")
            #expect(hdrs["x-forwarded-proto"] == "http")
            #expect(hdrs["x-forwarded-host"] == "localhost")
            #expect(hdrs["x-request-id"] == r.header("x-amzn-RequestId"))
            #expect(hdrs["host"] == "127.0.0.1:\(h.echoPort)")

            let item = try h.get("/demo/items/42")
            #expect(item.json["path"] as? String == "/items/42")
            // A literal segment beats a parameter, whatever the order in the file.
            let special = try h.get("/demo/items/special", headers: ["X-Secret": "s3cr3t"])
            let sh = special.json["headers"] as? [String: String] ?? [:]
            #expect(sh["x-special"] == "yes")
            #expect(sh["x-secret"] == nil)
            let greedy = try h.get("/demo/files/a/b/c.txt", method: "DELETE")
            #expect(greedy.status == 200)
            #expect(greedy.json["path"] as? String == "/files/a/b/c.txt")
            #expect(greedy.json["method"] as? String == "DELETE")
            let head = try h.get("/demo/public", method: "HEAD")
            #expect(head.status == 200 && head.body.isEmpty)
        }
    }

    @Test func unknownRoutesAnswerLikeAPIGateway() async throws {
        try await withHarness { h in
            for path in ["/demo/nope", "/prod/public", "/", "/demo"] {
                let r = try h.get(path)
                #expect(r.status == 403, "\(path)")
                #expect(r.bodyText == #"{"message":"Missing Authentication Token"}"#)
                #expect(r.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException")
                #expect(r.header("x-amzn-RequestId")?.count == 36)
                #expect(r.header("Content-Type") == "application/json")
            }
            let wrongMethod = try h.get("/demo/public", method: "POST")
            #expect(wrongMethod.status == 403)
            let http = try h.get("/v2/missing")
            #expect(http.status == 404 && http.bodyText == #"{"message":"Not Found"}"#)
            #expect(try h.get("/v2/ok").status == 200)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withHarness { h in
            let c = try h.connect()
            let paths = ["/demo/items/1", "/demo/nope", "/demo/items/2?delay=50", "/demo/items/3"]
            c.send(paths.map { "GET \($0) HTTP/1.1\r\nHost: x\r\n\r\n" }.joined())
            let rs = try paths.map { _ in try c.readResponse() }
            #expect(rs.map(\.status) == [200, 403, 200, 200])
            #expect(rs[0].json["path"] as? String == "/items/1")
            #expect(rs[2].json["path"] as? String == "/items/2")
            #expect(rs[3].json["path"] as? String == "/items/3")
        }
    }

    @Test func chunkedBodiesBothWays() async throws {
        try await withHarness { h in
            let c = try h.connect()
            c.send("POST /demo/items/1?chunked=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.header("Transfer-Encoding") == "chunked")
            #expect(r.json["body"] as? String == "hello world")
            // The connection stays usable after a chunked exchange.
            c.send("GET /demo/items/2 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().json["path"] as? String == "/items/2")
        }
    }

    @Test func http10ClientGetsPayloadWithoutChunks() async throws {
        try await withHarness { h in
            let c = try h.connect()
            c.send("GET /demo/items/1?chunked=1 HTTP/1.0\r\nHost: x\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.header("Transfer-Encoding") == nil)
            #expect(r.json["path"] as? String == "/items/1")
            #expect(c.waitForClose())
        }
    }

    @Test func headAndBodyLimits() async throws {
        try await withHarness { h in
            let big = try h.get("/demo/public", headers: ["X-Big": String(repeating: "a", count: 9000)])
            #expect(big.status == 431)
            let tooLong = try h.connect()
            tooLong.send("POST /demo/items/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
            let r = try tooLong.readResponse()
            #expect(r.status == 413)
            #expect(r.bodyText == "HTTP content length exceeded 1048576 bytes.")
            let chunked = try h.connect()
            chunked.send("POST /demo/items/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            let piece = String(repeating: "z", count: 65536)
            for _ in 0..<20 { chunked.send("10000\r\n\(piece)\r\n") }
            #expect(try chunked.readResponse().status == 413)
            let bad = try h.connect()
            bad.send("GET /demo/public HTTP/1.1\r\nHost x\r\n\r\n")
            let br = try bad.readResponse()
            #expect(br.status == 400 && br.bodyText == #"{"message":"Bad Request"}"#)
            #expect(bad.waitForClose())
        }
    }

    @Test func slowClientGets408() async throws {
        try await withHarness { h in
            let c = try h.connect()
            c.send("GET /demo/public HTTP/1.1\r\nHost: x\r\n")
            let r = try c.readResponse()
            #expect(r.status == 408)
            #expect(r.header("Connection") == "close")
            #expect(c.waitForClose())
        }
    }

    @Test func upstreamFailuresMapTo502And504() async throws {
        try await withHarness { h in
            let refused = try h.get("/demo/dead")
            #expect(refused.status == 502)
            #expect(refused.bodyText == #"{"message":"Internal server error"}"#)
            #expect(refused.header("x-amzn-ErrorType") == "InternalServerErrorException")
            // The refusing endpoint is ejected, but it is the only one: it is tried anyway, so the
            // answer is the connect failure again, not 503 "no healthy endpoint".
            let ejected = try h.get("/demo/dead")
            #expect(ejected.status == 502)
            let dropped = try h.get("/demo/items/1?close=1")
            #expect(dropped.status == 502)
            let slow = try h.get("/demo/slow?delay=3000")
            #expect(slow.status == 504)
            #expect(slow.bodyText == #"{"message": "Endpoint request timed out"}"#)
            // The gateway stays healthy for the next request.
            #expect(try h.get("/demo/public").status == 200)
        }
    }

    @Test func ipAuthorizerAndAnyOf() async throws {
        try await withHarness { h in
            let denied = try h.get("/demo/denied")
            #expect(denied.status == 403)
            #expect(denied.header("x-amzn-ErrorType") == "AccessDeniedException")
            #expect(denied.bodyText.hasPrefix(#"{"Message":"User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:000000000000:demo/demo/GET/denied with an explicit deny"#))
            #expect(try h.get("/demo/either").status == 200)
        }
    }

    @Test func expectContinueIsAnsweredByTheGateway() async throws {
        try await withHarness { h in
            let c = try h.connect()
            c.send("POST /demo/items/7 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            let interim = try c.readResponse(keepInterim: true)
            #expect(interim.status == 100)
            c.send("abcde")
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.json["body"] as? String == "abcde")
            #expect((r.json["headers"] as? [String: String])?["expect"] == nil)
        }
    }

    @Test func streamsLargeBodiesBothWays() async throws {
        try await withHarness { h in
            let size = 32 * 1024 * 1024
            let down = try h.get("/demo/big?bytes=\(size)")
            #expect(down.status == 200 && down.body.count == size)
            let c = try h.connect()
            c.send("POST /demo/big HTTP/1.1\r\nHost: x\r\nContent-Length: \(size)\r\n\r\n")
            let chunk = [UInt8](repeating: 0x41, count: 1 << 20)
            for _ in 0..<32 { c.send(chunk) }
            let up = try c.readResponse()
            #expect(up.status == 200)
            #expect(up.json["body_bytes"] as? Int == size)
        }
    }

    @Test func curlSeesTheUpstreamAnswer() async throws {
        try await withHarness { h in
            let (code, out, _) = try runTool(["curl", "-s", "-i", "http://127.0.0.1:\(h.port)/demo/public"])
            #expect(code == 0)
            #expect(out.hasPrefix("HTTP/1.1 200 OK"))
            #expect(out.contains(#""path":"/public""#))
            let (c2, out2, _) = try runTool(["curl", "-s", "-X", "POST", "--data-binary", "@-", "-H", "Transfer-Encoding: chunked",
                "http://127.0.0.1:\(h.port)/demo/items/9"], stdin: Data("streamed via curl".utf8))
            #expect(c2 == 0)
            #expect(out2.contains(#""body":"streamed via curl""#))
        }
    }

    @Test func reloadSwitchesRoutesAndKeepsOldConfigOnError() async throws {
        try await withHarness { h in
            #expect(try h.get("/demo/newroute").status == 403)
            let next = Self.config.replacingOccurrences(
                of: "      - { path: /public, methods: [GET, HEAD], upstream: backend }",
                with: "      - { path: /newroute, upstream: backend }")
            try h.reload(next)
            #expect(try h.get("/demo/newroute").status == 200)
            #expect(try h.get("/demo/public").status == 403)
            // A broken file fails the reload and the running config keeps serving.
            #expect(throws: (any Error).self) { try h.reload(next.replacingOccurrences(of: "upstream: backend }", with: "upstream: backnd }")) }
            #expect(try h.get("/demo/newroute").status == 200)
        }
    }

    @Test func gatewayResponsesCanBeCustomised() async throws {
        let yaml = Self.config + """

            gateway_responses:
              DEFAULT_4XX:
                headers: { Access-Control-Allow-Origin: "*" }
              MISSING_AUTHENTICATION_TOKEN:
                status: 404
                body: '{"error":$context.error.messageString,"type":"$context.error.responseType","id":"$context.requestId"}'
            """
        try await withHarness(yaml) { h in
            let r = try h.get("/demo/nope")
            #expect(r.status == 404)
            #expect(r.header("Access-Control-Allow-Origin") == "*")
            let id = r.header("x-amzn-RequestId") ?? "?"
            #expect(r.bodyText == #"{"error":"Missing Authentication Token","type":"MISSING_AUTHENTICATION_TOKEN","id":"\#(id)"}"#)
            let denied = try h.get("/demo/denied")
            #expect(denied.status == 403)
            #expect(denied.header("Access-Control-Allow-Origin") == "*")
        }
    }
}
