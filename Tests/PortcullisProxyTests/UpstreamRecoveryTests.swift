import NIOCore
import NIOEmbedded
import NIOPosix
import PortcullisConfig
import Testing

@testable import PortcullisProxy

/// An upstream that goes away and comes back: the gateway uses it again at once, on every loop,
/// without waiting for its ejection to expire.
@Suite struct UpstreamRecoveryTests {
    /// An echo upstream that can be stopped (its listener and every accepted connection closed)
    /// and started again on the same port.
    final class RestartableEcho {
        private var group: MultiThreadedEventLoopGroup?
        private(set) var port = 0

        func start() async throws {
            let g = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            do {
                let ch = try await EchoServer.bind(host: "127.0.0.1", port: port, group: g)
                port = ch.localAddress!.port!
                group = g
            } catch {
                try? await g.shutdownGracefully()
                throw error
            }
        }

        /// Returns once every socket of the upstream is closed: connects are refused from then on.
        func stop() async {
            try? await group?.shutdownGracefully()
            group = nil
        }
    }

    func config(port: Int) -> String {
        """
        workers: 2
        access_log: off
        listeners: [{ name: public, listen: "127.0.0.1:0" }]
        apis:
          - name: any
            stage: demo
            routes: [{ path: /who, upstream: pool }]
        upstreams:
          pool: { endpoints: ["http://127.0.0.1:\(port)"], eject_base: 10s }
        """
    }

    /// Sends requests, each on a new client connection, until each of the server's loops has
    /// accepted at least `perLoop` of them (the kernel spreads new connections over the loops'
    /// sockets); `check` sees every response. Waits on the loops' counters, not on time.
    func requestsOnEveryLoop(_ h: Harness, perLoop: Int, _ check: (RawResponse) -> Void) async throws {
        let before = await h.server.loopStats().map(\.connectionsAccepted)
        var sent = 0
        while true {
            let now = await h.server.loopStats().map(\.connectionsAccepted)
            if zip(now, before).allSatisfy({ $0 - $1 >= perLoop }) { return }
            guard sent < 50 * perLoop * before.count else {
                Issue.record("connections did not reach every loop: \(zip(now, before).map { $0 - $1 })")
                return
            }
            check(try h.get("/demo/who"))
            sent += 1
        }
    }

    @Test func loneEndpointServesAgainOnEveryLoopAsSoonAsItIsBack() async throws {
        let upstream = RestartableEcho()
        try await upstream.start()
        let h = try await Harness(config(port: upstream.port), startEcho: false)
        let health = h.server.endpointHealth.record(for: "http://127.0.0.1:\(upstream.port)")

        // Up: every loop has a keep-alive connection to it in its pool.
        try await requestsOnEveryLoop(h, perLoop: 2) { #expect($0.status == 200) }

        // Down: connects are refused and the endpoint is ejected (for 10 s and more).
        await upstream.stop()
        // A lone endpoint is tried anyway: the connect failure (502), never 503.
        try await requestsOnEveryLoop(h, perLoop: 2) { #expect($0.status == 502) }
        #expect(!health.isHealthy(.now()))

        // Back on the same port, long before the ejection ends: every request is answered by it,
        // on both loops, from the first one on.
        try await upstream.start()
        try await requestsOnEveryLoop(h, perLoop: 5) { #expect($0.status == 200) }
        #expect(health.isHealthy(.now()))
        #expect(health.consecutiveFailures == 0)

        // And under load: concurrent keep-alive clients, every answer from the upstream.
        let port = h.port
        let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let c = try RawConnection(port: port)
                    var out: [Int] = []
                    for _ in 0..<25 {
                        c.send("GET /demo/who HTTP/1.1\r\nHost: x\r\n\r\n")
                        out.append(try c.readResponse().status)
                    }
                    return out
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(statuses.count == 100)
        #expect(statuses.allSatisfy { $0 == 200 })

        await h.stop()
        await upstream.stop()
    }

    @Test func requestsToADownLoneEndpointAreTriedNotRefused() async throws {
        let upstream = RestartableEcho()
        try await upstream.start()
        let port = upstream.port
        await upstream.stop()
        let h = try await Harness(config(port: port), startEcho: false)
        // The first refused connect ejects the endpoint; the next requests still try it and get
        // the connect failure (502), not "no healthy endpoint" (503).
        for _ in 0..<3 {
            let r = try h.get("/demo/who")
            #expect(r.status == 502)
            #expect(r.header("x-amzn-ErrorType") == "InternalServerErrorException")
        }
        await h.stop()
    }
}

/// The pools of two loops for the same endpoints, with no sockets: health is one record per
/// endpoint, and picks fall back to ejected endpoints when nothing else is left.
@Suite struct SharedEndpointHealthTests {
    static let yaml = """
        listeners: [{ name: public, listen: "127.0.0.1:0" }]
        access_log: off
        apis:
          - name: demo
            stage: demo
            routes: [{ path: /x, upstream: pool }]
        upstreams:
          pool: { endpoints: ["http://127.0.0.1:9", "http://127.0.0.1:10"], eject_base: 10s }
          lone: { endpoints: ["http://127.0.0.1:11"], eject_base: 10s }
        """

    /// Two loop contexts sharing one health store, as `PortcullisServer` makes them.
    func twoLoops() throws -> (LoopContext, LoopContext, Snapshot) {
        let snapshot = try Snapshot(try ConfigLoader.parse(Self.yaml, file: "t.yaml"))
        let store = EndpointHealthStore()
        let a = LoopContext(
            loop: EmbeddedEventLoop(), index: 0, snapshot: snapshot, accessLog: nil, maxConnections: 10, endpointHealth: store)
        let b = LoopContext(
            loop: EmbeddedEventLoop(), index: 1, snapshot: snapshot, accessLog: nil, maxConnections: 10, endpointHealth: store)
        return (a, b, snapshot)
    }

    func picks(_ ctx: LoopContext, _ group: UpstreamGroupSpec, _ s: Snapshot, now: NIODeadline, count: Int = 4) -> [String] {
        (0..<count).map { _ in ctx.pickEndpoint(group, in: s, now: now, excluding: nil)?.spec.key ?? "none" }
    }

    @Test func successOnOneLoopReadmitsOnAnother() throws {
        let (a, b, s) = try twoLoops()
        let g = try #require(s.upstreams["pool"])
        let poolsA = a.pools(of: g, in: s), poolsB = b.pools(of: g, in: s)
        #expect(poolsA[0] !== poolsB[0])
        #expect(poolsA[0].health === poolsB[0].health)
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

        // A refused connect on loop A ejects the endpoint on loop B too.
        poolsA[0].health.connectFailed(now: now, base: g.ejectBase)
        #expect(!poolsB[0].isHealthy(now))
        #expect(picks(b, g, s, now: now) == Array(repeating: "http://127.0.0.1:10", count: 4))

        // A connection made on loop A readmits it on loop B, long before the ejection ends.
        poolsA[0].health.connectSucceeded()
        #expect(poolsB[0].isHealthy(now))
        #expect(Set(picks(b, g, s, now: now)) == ["http://127.0.0.1:9", "http://127.0.0.1:10"])
    }

    @Test func everyEndpointEjectedIsPickedAnywayHonouringExcluding() throws {
        let (a, _, s) = try twoLoops()
        let g = try #require(s.upstreams["pool"])
        let pools = a.pools(of: g, in: s)
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        for p in pools { p.health.connectFailed(now: now, base: g.ejectBase) }
        #expect(Set(picks(a, g, s, now: now)) == ["http://127.0.0.1:9", "http://127.0.0.1:10"])
        #expect(a.pickEndpoint(g, in: s, now: now, excluding: pools[0]) === pools[1])

        let lone = try #require(s.upstreams["lone"])
        let only = a.pools(of: lone, in: s)[0]
        only.health.connectFailed(now: now, base: lone.ejectBase)
        #expect(a.pickEndpoint(lone, in: s, now: now, excluding: nil) === only)
        #expect(a.pickEndpoint(lone, in: s, now: now, excluding: only) == nil)
    }

    @Test func ejectionDoublesPerFailureUpToThirtySeconds() {
        let h = EndpointHealth(key: "http://127.0.0.1:9")
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        let base = TimeAmount.seconds(1)
        h.connectFailed(now: t0, base: base)
        #expect(!h.isHealthy(t0 + .milliseconds(999)) && h.isHealthy(t0 + .seconds(1)))
        h.connectFailed(now: t0, base: base)
        #expect(!h.isHealthy(t0 + .milliseconds(1999)) && h.isHealthy(t0 + .seconds(2)))
        for _ in 0..<10 { h.connectFailed(now: t0, base: base) }
        #expect(h.consecutiveFailures == 12)
        #expect(!h.isHealthy(t0 + .milliseconds(29_999)) && h.isHealthy(t0 + .seconds(30)))
        h.connectSucceeded()
        #expect(h.isHealthy(t0) && h.consecutiveFailures == 0)
    }

    @Test func oneRecordPerEndpointKeyAcrossReloads() throws {
        let (a, b, s) = try twoLoops()
        let g = try #require(s.upstreams["pool"])
        let before = a.pools(of: g, in: s)[1].health
        // A reload that keeps an endpoint: a loop that had no pool for it yet gets the same record.
        let reloaded = try Snapshot(
            try ConfigLoader.parse(Self.yaml.replacingOccurrences(of: "\"http://127.0.0.1:9\", ", with: ""), file: "t.yaml"))
        let g2 = try #require(reloaded.upstreams["pool"])
        let after = b.pools(of: g2, in: reloaded)
        #expect(after.count == 1 && after[0].health === before)
    }
}
