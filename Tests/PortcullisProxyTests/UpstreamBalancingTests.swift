import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import PortcullisProxy

/// Several upstream endpoints: balancing, retry of unsent requests, trusted proxies, hosts.
@Suite struct UpstreamBalancingTests {
    /// Two extra echo upstreams next to the harness's own.
    func withTwoEchoes(_ body: (Int, Int) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let a = try await EchoServer.bind(host: "127.0.0.1", port: 0, group: group)
        let b = try await EchoServer.bind(host: "127.0.0.1", port: 0, group: group)
        do { try await body(a.localAddress!.port!, b.localAddress!.port!) } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try? await a.close()
        try? await b.close()
        try? await group.shutdownGracefully()
    }

    func config(_ endpoints: String, balance: String = "round_robin", extra: String = "") -> String {
        """
        workers: 1
        access_log: off
        listeners: [{ name: public, listen: "127.0.0.1:0" }]
        trusted_proxies: [127.0.0.1/32]
        apis:
          - name: exact
            hosts: [api.example.com]
            stage: demo
            routes: [{ path: /who, upstream: pool, set_headers: { X-Api: exact } }]
          - name: wildcard
            hosts: ["*.example.com"]
            stage: demo
            routes: [{ path: /who, upstream: pool, set_headers: { X-Api: wildcard } }]
          - name: any
            stage: demo
            routes:
              - { path: /who, upstream: pool, set_headers: { X-Api: any } }
              - { path: /office, upstream: pool, auth: [office] }
        authorizers:
          office: { type: ip, allow: [10.0.0.0/8] }
        upstreams:
          pool: { endpoints: [\(endpoints)], balance: \(balance), eject_base: 10s }
        \(extra)
        """
    }

    func upstreamPort(_ r: RawResponse) -> String? {
        (r.json["headers"] as? [String: String])?["host"]?.split(separator: ":").last.map(String.init)
    }

    @Test func roundRobinAlternatesEndpoints() async throws {
        try await withTwoEchoes { a, b in
            let h = try await Harness(config("\"http://127.0.0.1:\(a)\", \"http://127.0.0.1:\(b)\""), startEcho: false)
            var seen: [String] = []
            for _ in 0..<4 { seen.append(upstreamPort(try h.get("/demo/who")) ?? "?") }
            #expect(seen == ["\(a)", "\(b)", "\(a)", "\(b)"])
            await h.stop()
        }
    }

    @Test(.timeLimit(.minutes(1))) func leastOutstandingAvoidsTheBusyEndpoint() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let held = HeldUpstream()
        let busy = try await ServerBootstrap(group: group)
            .childChannelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(held) } }
            .bind(host: "127.0.0.1", port: 0).get()
        let other = try await EchoServer.bind(host: "127.0.0.1", port: 0, group: group)
        let h = try await Harness(
            config("\"http://127.0.0.1:\(busy.localAddress!.port!)\", \"http://127.0.0.1:\(other.localAddress!.port!)\"",
                balance: "least_outstanding"), startEcho: false)
        // Both endpoints idle: the first one gets the request, and holds it. Once it has arrived
        // there it is outstanding, and the next requests go to the other endpoint.
        let slow = try h.connect()
        slow.send("GET /demo/who HTTP/1.1\r\nHost: x\r\n\r\n")
        await held.waitUntilHolding()
        for _ in 0..<3 { #expect(upstreamPort(try h.get("/demo/who")) == "\(other.localAddress!.port!)") }
        held.release()
        #expect(try slow.readResponse().bodyText == #"{"held":true}"#)
        await h.stop()
        try? await busy.close()
        try? await other.close()
        try? await group.shutdownGracefully()
    }

    @Test func unsentRequestIsRetriedOnAnotherEndpoint() async throws {
        try await withTwoEchoes { a, _ in
            let h0 = try await Harness(config("\"http://127.0.0.1:\(a)\""), startEcho: false)
            let dead = h0.deadPort
            await h0.stop()
            let h = try await Harness(config("\"http://127.0.0.1:\(dead)\", \"http://127.0.0.1:\(a)\""), startEcho: false)
            for _ in 0..<4 {
                let r = try h.get("/demo/who")
                #expect(r.status == 200)
                #expect(upstreamPort(r) == "\(a)")
            }
            await h.stop()
        }
    }

    @Test func hostMatchingPrefersExactThenWildcardThenAny() async throws {
        try await withTwoEchoes { a, _ in
            let h = try await Harness(config("\"http://127.0.0.1:\(a)\""), startEcho: false)
            func api(_ host: String) throws -> String? {
                let c = try h.connect()
                c.send("GET /demo/who HTTP/1.1\r\nHost: \(host)\r\n\r\n")
                return (try c.readResponse().json["headers"] as? [String: String])?["x-api"]
            }
            #expect(try api("api.example.com") == "exact")
            #expect(try api("API.Example.com:8443") == "exact")
            #expect(try api("v2.example.com") == "wildcard")
            #expect(try api("example.com") == "any")
            #expect(try api("other.test") == "any")
            await h.stop()
        }
    }

    @Test func trustedProxyForwardsTheClientAddress() async throws {
        try await withTwoEchoes { a, _ in
            let h = try await Harness(config("\"http://127.0.0.1:\(a)\""), startEcho: false)
            let r = try h.get("/demo/who", headers: ["X-Forwarded-For": "10.1.2.3", "X-Request-Id": "abc-123"])
            let hdrs = r.json["headers"] as? [String: String] ?? [:]
            #expect(hdrs["x-forwarded-for"] == "10.1.2.3, 127.0.0.1")
            #expect(hdrs["x-request-id"] == "abc-123")
            // The ip authorizer sees the forwarded client, not the proxy in front.
            #expect(try h.get("/demo/office", headers: ["X-Forwarded-For": "10.1.2.3"]).status == 200)
            #expect(try h.get("/demo/office", headers: ["X-Forwarded-For": "192.0.2.1"]).status == 403)
            #expect(try h.get("/demo/office").status == 403)
            await h.stop()
        }
    }

    @Test func reloadAddsAndRemovesListeners() async throws {
        try await withTwoEchoes { a, _ in
            let base = config("\"http://127.0.0.1:\(a)\"")
            let h = try await Harness(base, startEcho: false)
            let withSecond = base.replacingOccurrences(
                of: "listeners: [{ name: public, listen: \"127.0.0.1:0\" }]",
                with: "listeners: [{ name: public, listen: \"127.0.0.1:0\" }, { name: second, listen: \"127.0.0.1:0\" }]")
            try h.reload(withSecond)
            let second = try #require(h.server.boundAddresses["second"]?.port)
            let c = try RawConnection(port: second)
            c.send("GET /demo/who HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().status == 200)
            try h.reload(base)
            #expect(h.server.boundAddresses["second"] == nil)
            #expect(throws: (any Error).self) { try RawConnection(port: second) }
            #expect(try h.get("/demo/who").status == 200)
            await h.stop()
        }
    }

    @Test func maxConnectionsRefusesExtraConnections() async throws {
        try await withTwoEchoes { a, _ in
            let h = try await Harness(config("\"http://127.0.0.1:\(a)\"", extra: "limits: { max_connections: 2 }"), startEcho: false)
            let c1 = try h.connect(), c2 = try h.connect()
            c1.send("GET /demo/who HTTP/1.1\r\nHost: x\r\n\r\n")
            c2.send("GET /demo/who HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c1.readResponse().status == 200)
            #expect(try c2.readResponse().status == 200)
            let c3 = try h.connect()
            c3.send("GET /demo/who HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(c3.waitForClose())
            await h.stop()
        }
    }
}
