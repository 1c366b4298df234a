public import NIOCore
public import PortcullisCore
import PortcullisConfig
import Synchronization

/// What one call to an external authorizer came to. Only `.answer` is ever cached.
public enum CallResult: Sendable {
    case answer(AuthorizerAnswer)
    /// The authorizer said exactly "Unauthorized": 401.
    case unauthorized
    /// The authorizer answered something API Gateway would refuse: 500 AUTHORIZER_CONFIGURATION_ERROR.
    case misconfigured(String)
    /// No answer (timeout, refused connection, overload): 500 AUTHORIZER_FAILURE.
    case failed(String)
}

/// The counters of one authorizer's cache, summed over its shards (for the metrics endpoint).
public struct AuthorizerCacheCounters: Sendable, Equatable {
    public var hits = 0
    /// Lookups that found nothing usable and started a call.
    public var misses = 0
    /// Lookups that joined a call another request had started (single flight).
    public var coalesced = 0
    /// Entries removed to stay within `max_entries` / `max_bytes`.
    public var evictions = 0
    /// Calls that ended without a usable answer (failures and malformed answers).
    public var errors = 0
    /// Answers served past their TTL because the authorizer failed (`stale_if_error`).
    public var staleServed = 0
    public var entries = 0
    public var bytes = 0
    public init() {}
}

/// The result cache of one external authorizer, shared by every event loop.
///
/// Sharded: a key picks one of `shardCount` shards by its hash, and only that shard's lock is
/// taken, briefly (a dictionary lookup), so loops rarely meet on one lock. Each shard is bounded by
/// its share of `max_entries` and `max_bytes` and evicts in insertion order.
///
/// Single flight: the first lookup that misses *leads* (the caller makes the call), later ones for
/// the same key *join* with a promise of their own loop's; `complete` fulfils them all, so each
/// waiter resumes on the loop it came from, whichever loop made the call.
///
/// Time comes from an injected clock (seconds); nothing here schedules timers.
public final class AuthorizerCache: Sendable {
    public struct Settings: Sendable {
        public var ttl: Double
        public var denyTTL: Double
        public var maxEntries: Int
        public var maxBytes: Int
        public var staleIfError: Double
        public var refreshAhead: Double

        public init(ttl: Double, denyTTL: Double, maxEntries: Int, maxBytes: Int, staleIfError: Double = 0, refreshAhead: Double = 0) {
            self.ttl = ttl
            self.denyTTL = denyTTL
            self.maxEntries = maxEntries
            self.maxBytes = maxBytes
            self.staleIfError = staleIfError
            self.refreshAhead = refreshAhead
        }
    }

    public enum Lookup: Sendable {
        /// A fresh entry. `refresh`: the caller should renew it in the background (refresh-ahead)
        /// and call `complete(key:with:)` with no promise of its own waiting.
        case hit(AuthorizerAnswer, refresh: Bool)
        /// Another request is calling for this key: wait for its result.
        case join(EventLoopFuture<CallResult>)
        /// Nobody is: call the authorizer, then `complete`; the future is this caller's result
        /// (possibly a stale answer instead of a failure).
        case lead(EventLoopFuture<CallResult>)
    }

    /// The identity values of a request for one API and stage, as bytes with their hash
    /// (`ExternalAuthorizer.withIdentityKey`). A hit looks up a probe written on the stack; every
    /// key an entry or a call keeps is `owned`.
    public typealias Key = ByteKey

    static let shardCount = ExternalAuthorizerConfig.Cache.shards
    public let settings: Settings
    private let shards: [ShardBox]

    /// A shard behind its own lock (a class: an array cannot hold `Mutex` values).
    private final class ShardBox: Sendable {
        let state: Mutex<AuthorizerCacheShard>
        init(_ shard: sending AuthorizerCacheShard) { state = Mutex(shard) }
    }

    public init(_ settings: Settings) {
        self.settings = settings
        let n = Self.shardCount
        shards = (0..<n).map { _ in
            ShardBox(AuthorizerCacheShard(
                maxEntries: max(1, (settings.maxEntries + n - 1) / n), maxBytes: max(1, (settings.maxBytes + n - 1) / n)))
        }
    }

    /// The shard of a key, from the hash it carries (`FastHash` of all its bytes, made
    /// once per request: a client cannot aim many keys at one shard).
    @inline(__always)
    private func shard(_ key: Key) -> ShardBox {
        shards[key.hash & (Self.shardCount - 1)]
    }

    /// A fresh entry, or nil: the hot path's only call (one shard lock, no promise, and `key`
    /// may be a probe). `refresh` as in `Lookup.hit`. After nil the caller does its pre-call
    /// checks, then `lookup` with an owned key.
    @inline(__always)
    public func fresh(_ key: Key, now: Double) -> (answer: AuthorizerAnswer, refresh: Bool)? {
        let found = shard(key).state.withLock { $0.lookup(key, now: now, refreshAhead: settings.refreshAhead, promise: nil) }
        if case .hit(let a, let refresh) = found { return (a, refresh) }
        return nil
    }

    public func lookup(_ key: Key, now: Double, on loop: any EventLoop) -> Lookup {
        // The promise is made outside the lock; most lookups are hits and never use it.
        var promise: EventLoopPromise<CallResult>? = nil
        let key = key.owned
        while true {
            let found = shard(key).state.withLock { $0.lookup(key, now: now, refreshAhead: settings.refreshAhead, promise: promise) }
            switch found {
            case .hit(let a, let refresh):
                // Another loop's call completed between the two looks: the promise goes unused.
                promise?.succeed(.failed("unused"))
                return .hit(a, refresh: refresh)
            case .joined(let watched):
                watched?.succeed()
                return .join(promise!.futureResult)
            case .led(let watched):
                watched?.succeed()
                return .lead(promise!.futureResult)
            case .needPromise: promise = loop.makePromise(of: CallResult.self)
            }
        }
    }

    /// Ends the call for `key`: caches an answer (TTL by verdict), keeps the last answer on a
    /// failure within `stale_if_error`, and fulfils every waiter with what they should see.
    /// Returns that result (for a caller with no promise of its own, a refresh).
    @discardableResult
    public func complete(key: Key, with result: CallResult, now: Double) -> CallResult {
        let key = key.owned
        let (delivered, waiters) = shard(key).state.withLock { $0.complete(key, result, now: now, settings: settings) }
        for w in waiters { w.succeed(delivered) }
        return delivered
    }

    /// Puts an answer under `key`, replacing its entry (tests seed the cache with it; the
    /// authorizer stores only through `complete`).
    public func store(key: Key, answer: AuthorizerAnswer, now: Double) {
        let key = key.owned
        shard(key).state.withLock { $0.store(key, answer, now: now, settings: settings) }
    }

    /// Succeeds once `count` lookups of `key` wait on one call (the leader included): tests of
    /// single flight wait on this event instead of sleeping.
    public func whenWaiting(_ key: Key, count: Int, on loop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        let key = key.owned
        shard(key).state.withLock { $0.watch(key, count: count, promise: promise) }?.succeed()
        return promise.futureResult
    }

    /// Drops every entry (calls in flight still complete their waiters).
    public func flush() {
        for s in shards { s.state.withLock { $0.flush() } }
    }

    public var counters: AuthorizerCacheCounters {
        var total = AuthorizerCacheCounters()
        for s in shards {
            let c = s.state.withLock { $0.counters }
            total.hits += c.hits
            total.misses += c.misses
            total.coalesced += c.coalesced
            total.evictions += c.evictions
            total.errors += c.errors
            total.staleServed += c.staleServed
            total.entries += c.entries
            total.bytes += c.bytes
        }
        return total
    }
}
