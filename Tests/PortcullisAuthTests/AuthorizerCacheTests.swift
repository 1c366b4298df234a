import NIOCore
import NIOEmbedded
import NIOPosix
import PortcullisCore
import Testing

@testable import PortcullisAuth

/// The result cache alone, driven by a hand-moved clock: TTLs, deny TTL, what is never cached,
/// bounds and eviction, single flight across loops, stale-if-error, refresh-ahead, flush.
@Suite struct AuthorizerCacheTests {
    static func answer(_ principal: String, deny: Bool = false, padding: Int = 0) -> AuthorizerAnswer {
        let effect = deny ? "Deny" : "Allow"
        let pad = String(repeating: "p", count: padding)
        let text = #"{"principalId":"\#(principal)","context":{"pad":"\#(pad)"},"policyDocument":{"Statement":[{"Effect":"\#(effect)","Action":"execute-api:Invoke","Resource":"*"}]}}"#
        return try! AuthorizerAnswer.parse(Array(text.utf8), authorizer: "lab").get()
    }

    static func settings(ttl: Double = 300, deny: Double = 60, entries: Int = 1000, bytes: Int = 1 << 20, stale: Double = 0, ahead: Double = 0)
        -> AuthorizerCache.Settings
    {
        .init(ttl: ttl, denyTTL: deny, maxEntries: entries, maxBytes: bytes, staleIfError: stale, refreshAhead: ahead)
    }

    /// Looks up and, on a lead, completes with `result` at once.
    func fetch(_ cache: AuthorizerCache, _ key: AuthorizerCache.Key, now: Double, loop: EmbeddedEventLoop, result: CallResult) throws -> (CallResult, Bool) {
        switch cache.lookup(key, now: now, on: loop) {
        case .hit(let a, _): return (.answer(a), true)
        case .join(let f):
            loop.run()
            return (try f.wait(), false)
        case .lead(let f):
            cache.complete(key: key, with: result, now: now)
            loop.run()
            return (try f.wait(), false)
        }
    }

    func principal(_ r: CallResult) -> String? {
        if case .answer(let a) = r { return a.identity.principal }
        return nil
    }

    @Test func hitsUntilTheTTLThenCallsAgain() throws {
        let loop = EmbeddedEventLoop()
        let cache = AuthorizerCache(Self.settings(ttl: 300))
        let (r1, hit1) = try fetch(cache, "tok", now: 1000, loop: loop, result: .answer(Self.answer("alice")))
        #expect(principal(r1) == "alice" && !hit1)
        let (r2, hit2) = try fetch(cache, "tok", now: 1299.9, loop: loop, result: .failed("not called"))
        #expect(principal(r2) == "alice" && hit2)
        let (r3, hit3) = try fetch(cache, "tok", now: 1300, loop: loop, result: .answer(Self.answer("alice2")))
        #expect(principal(r3) == "alice2" && !hit3)
        let c = cache.counters
        #expect(c.hits == 1 && c.misses == 2 && c.entries == 1)
    }

    @Test func denyAnswersUseTheirOwnTTL() throws {
        let loop = EmbeddedEventLoop()
        let cache = AuthorizerCache(Self.settings(ttl: 300, deny: 60))
        _ = try fetch(cache, "bad", now: 0, loop: loop, result: .answer(Self.answer("eve", deny: true)))
        #expect(try fetch(cache, "bad", now: 59, loop: loop, result: .failed("x")).1)
        #expect(try !fetch(cache, "bad", now: 60, loop: loop, result: .answer(Self.answer("eve", deny: true))).1)
    }

    @Test func unauthorizedErrorsAndFailuresAreNeverCached() throws {
        let loop = EmbeddedEventLoop()
        let cache = AuthorizerCache(Self.settings())
        for result in [CallResult.unauthorized, .misconfigured("bad"), .failed("timeout")] {
            _ = try fetch(cache, "k", now: 0, loop: loop, result: result)
            if case .hit = cache.lookup("k", now: 1, on: loop) { Issue.record("\(result) was cached") }
            cache.complete(key: "k", with: .unauthorized, now: 1)
        }
        #expect(cache.counters.entries == 0)
        #expect(cache.counters.errors == 2)
    }

    @Test func ttlZeroDenyDisablesDenyCaching() throws {
        let loop = EmbeddedEventLoop()
        let cache = AuthorizerCache(Self.settings(ttl: 300, deny: 0))
        _ = try fetch(cache, "bad", now: 0, loop: loop, result: .answer(Self.answer("eve", deny: true)))
        #expect(cache.counters.entries == 0)
    }

    @Test func boundedByEntriesEvictingTheOldest() throws {
        let loop = EmbeddedEventLoop()
        // 16 shards of one entry each at most.
        let cache = AuthorizerCache(Self.settings(entries: 16))
        for i in 0..<200 { _ = try fetch(cache, .init("k\(i)"), now: 0, loop: loop, result: .answer(Self.answer("p\(i)"))) }
        let c = cache.counters
        #expect(c.entries <= 16)
        #expect(c.evictions == 200 - c.entries)
        // The newest survives in its shard.
        #expect(try fetch(cache, "k199", now: 1, loop: loop, result: .failed("x")).1)
    }

    @Test func boundedByBytes() throws {
        let loop = EmbeddedEventLoop()
        let cache = AuthorizerCache(Self.settings(entries: 100_000, bytes: 16 * 4096))
        for i in 0..<100 { _ = try fetch(cache, .init("k\(i)"), now: 0, loop: loop, result: .answer(Self.answer("p\(i)", padding: 3000))) }
        let c = cache.counters
        #expect(c.bytes <= 16 * 4096)
        #expect(c.evictions > 0)
        #expect(c.entries + c.evictions == 100)
    }

    @Test func singleFlightAcrossLoops() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let loops = Array(group.makeIterator())
        let cache = AuthorizerCache(Self.settings())
        var futures: [EventLoopFuture<CallResult>] = []
        var leads = 0
        for i in 0..<100 {
            let loop = loops[i % 2]
            switch cache.lookup("tok", now: 0, on: loop) {
            case .hit: Issue.record("hit before any answer")
            case .join(let f): futures.append(f)
            case .lead(let f):
                leads += 1
                futures.append(f)
            }
        }
        #expect(leads == 1)
        #expect(cache.counters.coalesced == 99)
        cache.complete(key: "tok", with: .answer(Self.answer("alice")), now: 0)
        for (i, f) in futures.enumerated() {
            // Each waiter resumes on the loop it asked from.
            #expect(f.eventLoop === loops[i % 2])
            #expect(principal(try f.wait()) == "alice")
        }
        if case .hit = cache.lookup("tok", now: 1, on: loops[0]) {} else { Issue.record("not cached") }
    }

    @Test func waitingWatcherFiresAtTheCount() throws {
        let loop = EmbeddedEventLoop()
        let cache = AuthorizerCache(Self.settings())
        let watched = cache.whenWaiting("tok", count: 3, on: loop)
        var fired = false
        watched.whenSuccess { fired = true }
        _ = cache.lookup("tok", now: 0, on: loop)
        _ = cache.lookup("tok", now: 0, on: loop)
        loop.run()
        #expect(!fired)
        _ = cache.lookup("tok", now: 0, on: loop)
        loop.run()
        #expect(fired)
        cache.complete(key: "tok", with: .unauthorized, now: 0)
    }

    @Test func staleIfErrorServesTheLastAnswerWithinItsWindow() throws {
        let loop = EmbeddedEventLoop()
        let cache = AuthorizerCache(Self.settings(ttl: 10, stale: 30))
        _ = try fetch(cache, "tok", now: 0, loop: loop, result: .answer(Self.answer("alice")))
        // Expired, the authorizer fails: the old answer serves (counted as stale).
        let (r, hit) = try fetch(cache, "tok", now: 25, loop: loop, result: .failed("timeout"))
        #expect(principal(r) == "alice" && !hit)
        #expect(cache.counters.staleServed == 1)
        // Past ttl + stale_if_error: the failure stands.
        let (r2, _) = try fetch(cache, "tok", now: 41, loop: loop, result: .failed("timeout"))
        guard case .failed = r2 else { Issue.record("expected the failure, got \(r2)"); return }
        // A refusal is never hidden by an old answer.
        let fresh = AuthorizerCache(Self.settings(ttl: 10, stale: 30))
        _ = try fetch(fresh, "tok", now: 0, loop: loop, result: .answer(Self.answer("alice")))
        let (r3, _) = try fetch(fresh, "tok", now: 20, loop: loop, result: .unauthorized)
        guard case .unauthorized = r3 else { Issue.record("expected unauthorized, got \(r3)"); return }
    }

    @Test func staleIfErrorOffByDefault() throws {
        let loop = EmbeddedEventLoop()
        let cache = AuthorizerCache(Self.settings(ttl: 10))
        _ = try fetch(cache, "tok", now: 0, loop: loop, result: .answer(Self.answer("alice")))
        let (r, _) = try fetch(cache, "tok", now: 11, loop: loop, result: .failed("timeout"))
        guard case .failed = r else { Issue.record("expected the failure, got \(r)"); return }
    }

    @Test func refreshAheadAsksOnceNearExpiryAndKeepsServing() throws {
        let loop = EmbeddedEventLoop()
        let cache = AuthorizerCache(Self.settings(ttl: 100, ahead: 10))
        _ = try fetch(cache, "tok", now: 0, loop: loop, result: .answer(Self.answer("v1")))
        guard case .hit(_, false) = cache.lookup("tok", now: 89, on: loop) else { Issue.record("early refresh"); return }
        guard case .hit(_, true) = cache.lookup("tok", now: 91, on: loop) else { Issue.record("no refresh"); return }
        // One renewal at a time: the next hit does not ask again.
        guard case .hit(let a, false) = cache.lookup("tok", now: 92, on: loop) else { Issue.record("second refresh"); return }
        #expect(a.identity.principal == "v1")
        cache.complete(key: "tok", with: .answer(Self.answer("v2")), now: 93)
        guard case .hit(let b, false) = cache.lookup("tok", now: 150, on: loop) else { Issue.record("renewed entry missing"); return }
        #expect(b.identity.principal == "v2")
        // A failed renewal keeps the entry until it expires.
        guard case .hit(_, true) = cache.lookup("tok", now: 185, on: loop) else { Issue.record("no refresh"); return }
        cache.complete(key: "tok", with: .failed("down"), now: 186)
        guard case .hit = cache.lookup("tok", now: 190, on: loop) else { Issue.record("entry lost on a failed renewal"); return }
    }

    @Test func flushDropsEntriesButCallsInFlightComplete() throws {
        let loop = EmbeddedEventLoop()
        let cache = AuthorizerCache(Self.settings())
        _ = try fetch(cache, "a", now: 0, loop: loop, result: .answer(Self.answer("a")))
        guard case .lead(let f) = cache.lookup("b", now: 0, on: loop) else { Issue.record("expected lead"); return }
        cache.flush()
        #expect(cache.counters.entries == 0)
        cache.complete(key: "b", with: .answer(Self.answer("b")), now: 0)
        loop.run()
        #expect(principal(try f.wait()) == "b")
        switch cache.lookup("a", now: 1, on: loop) {
        case .lead: cache.complete(key: "a", with: .unauthorized, now: 1)
        default: Issue.record("a survived the flush")
        }
    }
}
