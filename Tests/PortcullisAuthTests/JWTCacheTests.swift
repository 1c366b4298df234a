import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import PortcullisCore
import Testing

@testable import PortcullisAuth
@testable import PortcullisConfig

@Suite("JWT: verified-token cache")
struct JWTCacheTests {
    @Test func hitExpiryAndForgeries() throws {
        let m = try JWTFixtures.get()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let clock = ManualClock(JWTFixtures.now)
        let a = JWTFixtures.authorizer(m, clock: clock, group: group) { $0.cacheTTL = .seconds(60) }
        let loop = group.next()
        let other = group.next()
        let caches = try #require(a.caches)
        func count(_ l: any EventLoop) throws -> Int { try l.submit { caches.with(l) { $0.count } }.wait() }
        let token = m.token("valid-RS256")

        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(token), on: loop).isAllow)
        #expect(try count(loop) == 1)
        #expect(try count(other) == 0)  // one cache per loop
        let hit = try loop.submit { caches.with(loop) { $0.lookup(token, now: clock.now) } }.wait()
        #expect(hit?.identity.principal == "user-1")
        // A hit still runs the route checks.
        let scoped = try JWTFixtures.decide(a, JWTFixtures.bearer(token), route: RouteAuthPolicy(scopes: ["admin"]), on: loop)
        #expect(scoped.refusal?.type == .FORBIDDEN)

        // Forged tokens never enter.
        for name in ["altered-signature", "altered-payload", "alg-none", "hmac-with-rsa-public-key", "expired", "wrong-aud"] {
            #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token(name)), on: loop).refusal != nil, "\(name)")
        }
        #expect(try count(loop) == 1)

        // The TTL ends the entry (60 s, before exp at +600 s) and the token is verified again.
        clock.advance(by: 61)
        #expect(try loop.submit { caches.with(loop) { $0.lookup(token, now: clock.now) } }.wait() == nil)
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(token), on: loop).isAllow)
        // Past exp, the cache does not keep a token alive: entries end at exp at the latest.
        clock.set(JWTFixtures.now + 600)
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(token), on: loop).refusal?.reason == "Token expired")
    }

    @Test func entryLifetimeIsCappedByExp() throws {
        let m = try JWTFixtures.get()
        let clock = ManualClock(JWTFixtures.now + 590)  // 10 s before exp
        let a = JWTFixtures.authorizer(m, clock: clock) { $0.cacheTTL = .seconds(3600) }
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-ES256"))).isAllow)
        let caches = try #require(a.caches)
        let loop = EmbeddedEventLoop()
        #expect(caches.with(loop) { $0.lookup(m.token("valid-ES256"), now: JWTFixtures.now + 599) } != nil)
        #expect(caches.with(loop) { $0.lookup(m.token("valid-ES256"), now: JWTFixtures.now + 600) } == nil)
    }

    @Test func boundedFirstInFirstOut() throws {
        let m = try JWTFixtures.get()
        let v = VerifiedToken(claims: .object([:]), identity: .init(principal: "p", authorizer: "a"))
        var c = TokenCache(maxEntries: 3)
        for i in 0..<10 { c.insert("t\(i)", v, expires: 100) }
        #expect(c.count == 3)
        #expect(c.lookup("t9", now: 0) != nil && c.lookup("t7", now: 0) != nil)
        #expect(c.lookup("t0", now: 0) == nil)
        // Re-inserting a present token does not grow it.
        c.insert("t9", v, expires: 200)
        #expect(c.count == 3)
        _ = m
    }

    /// The table hashes a hash computed once per token; two tokens that share it are still two
    /// entries, and a lookup answers only for the token itself.
    @Test func tokensSharingAHashNeverShareAnEntry() {
        let v1 = VerifiedToken(claims: .object([:]), identity: .init(principal: "alice", authorizer: "a"))
        let v2 = VerifiedToken(claims: .object([:]), identity: .init(principal: "mallory", authorizer: "a"))
        var c = TokenCache(maxEntries: 2)
        c.insert(TokenCache.Key("token-of-alice", hash: 7), v1, expires: 100)
        #expect(c.lookup(TokenCache.Key("token-of-mallory", hash: 7), now: 0) == nil)
        c.insert(TokenCache.Key("token-of-mallory", hash: 7), v2, expires: 100)
        #expect(c.count == 2)
        #expect(c.lookup(TokenCache.Key("token-of-alice", hash: 7), now: 0)?.identity.principal == "alice")
        #expect(c.lookup(TokenCache.Key("token-of-mallory", hash: 7), now: 0)?.identity.principal == "mallory")
        // A third evicts the oldest, by its own key.
        c.insert(TokenCache.Key("token-of-bob", hash: 7), v1, expires: 100)
        #expect(c.count == 2)
        #expect(c.lookup(TokenCache.Key("token-of-alice", hash: 7), now: 0) == nil)
        #expect(c.lookup(TokenCache.Key("token-of-mallory", hash: 7), now: 0) != nil)
        // A token that expired and came back keeps its new place: its old place in the order
        // does not evict it.
        var d = TokenCache(maxEntries: 2)
        d.insert("a", v1, expires: 10)
        #expect(d.lookup("a", now: 20) == nil)  // expired: dropped
        d.insert("b", v1, expires: 100)
        d.insert("a", v2, expires: 100)  // back, newest
        d.insert("c", v1, expires: 100)  // evicts the oldest live one: b
        #expect(d.lookup("a", now: 30)?.identity.principal == "mallory")
        #expect(d.lookup("b", now: 30) == nil)
        #expect(d.lookup("c", now: 30) != nil)
        // The String entry points hash the token itself.
        #expect(TokenCache.Key("t1") == TokenCache.Key("t1"))
        #expect(TokenCache.Key("t1") != TokenCache.Key("t2"))
    }

    @Test func disabledWithZeroTTL() throws {
        let m = try JWTFixtures.get()
        let a = JWTFixtures.authorizer(m) { $0.cacheTTL = .zero }
        #expect(a.caches == nil)
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-RS256"))).isAllow)
    }
}

extension VerifiedToken: Equatable {
    public static func == (a: VerifiedToken, b: VerifiedToken) -> Bool { a.claims == b.claims && a.identity.principal == b.identity.principal }
}
