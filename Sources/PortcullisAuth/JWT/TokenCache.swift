public import NIOCore
import PortcullisCore

/// Tokens that passed signature and claim checks, by their exact text. Bounded; an entry lives
/// until min(exp + leeway, insertion + TTL). Only verified tokens are inserted, so a forged token
/// never enters (and cannot push verified tokens out).
///
/// A value type: one instance per event loop (see `TokenCaches`), mutated in place by its loop's
/// thread without a lock. Eviction is first-in-first-out, which for tokens of similar lifetimes is close to
/// oldest-expiry-first and costs O(1).
public struct TokenCache: Sendable {
    /// A token and its hash, computed once per request. The table hashes the stored `hash`
    /// (one word), not the token: a Swift dictionary rehashes the neighbours of every key it
    /// removes, and a 500-byte token hashed again per eviction cost more than its signature
    /// check's own bookkeeping (jwt_unique, benchmarks/README.md). Equality still compares the
    /// whole token, so two tokens that share a hash never share an entry.
    public struct Key: Hashable, Sendable {
        public let token: String
        let hash: Int

        public init(_ token: String) {
            self.token = token
            var hasher = Hasher()
            var t = token
            t.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
            hash = hasher.finalize()
        }

        /// A key with a chosen hash: tests of tokens that share one.
        init(token: String, hash: Int) {
            self.token = token
            self.hash = hash
        }

        public func hash(into hasher: inout Hasher) { hasher.combine(hash) }

        /// The bytes, not Unicode equivalence: one token's entry answers that token only.
        public static func == (a: Key, b: Key) -> Bool { a.hash == b.hash && a.token.utf8.elementsEqual(b.token.utf8) }
    }

    struct Entry: Sendable {
        let token: VerifiedToken
        let expires: Double
        /// When it entered `order`: a key that expired and came back has an older place in
        /// `order` too, which must not evict the newer entry.
        let seq: UInt64
    }

    public let maxEntries: Int
    private var entries: [Key: Entry] = [:]
    /// Insertion order, for eviction; may hold keys already gone (removed on the way) or since
    /// inserted again (their `seq` tells).
    private var order: [(key: Key, seq: UInt64)] = []
    private var orderHead = 0
    private var nextSeq: UInt64 = 0

    public init(maxEntries: Int) {
        self.maxEntries = max(1, maxEntries)
    }

    public var count: Int { entries.count }

    public mutating func lookup(_ token: String, now: Double) -> VerifiedToken? {
        lookup(Key(token), now: now)
    }

    public mutating func insert(_ token: String, _ verified: VerifiedToken, expires: Double) {
        insert(Key(token), verified, expires: expires)
    }

    public mutating func lookup(_ token: Key, now: Double) -> VerifiedToken? {
        guard let e = entries[token] else { return nil }
        if e.expires <= now {
            entries[token] = nil
            return nil
        }
        return e.token
    }

    public mutating func insert(_ token: Key, _ verified: VerifiedToken, expires: Double) {
        if let present = entries[token] {
            entries[token] = Entry(token: verified, expires: expires, seq: present.seq)
            return
        }
        while entries.count >= maxEntries, orderHead < order.count {
            let (key, seq) = order[orderHead]
            if entries[key]?.seq == seq { entries[key] = nil }
            orderHead += 1
        }
        nextSeq &+= 1
        order.append((token, nextSeq))
        entries[token] = Entry(token: verified, expires: expires, seq: nextSeq)
        // Compact the order list once its consumed prefix dominates.
        if orderHead > maxEntries {
            order.removeFirst(orderHead)
            orderHead = 0
        }
    }
}

/// The verified-token caches of one authorizer: one per event loop of the group it was compiled
/// with (`PerLoop`), so no lock is taken per request.
public final class TokenCaches: Sendable {
    private let caches: PerLoop<TokenCache>
    public let maxEntries: Int

    public init(group: (any EventLoopGroup)?, maxEntries: Int) {
        self.maxEntries = maxEntries
        caches = PerLoop(group: group) { TokenCache(maxEntries: maxEntries) }
    }

    /// Runs `body` with the cache of `loop` (the caller runs on `loop`).
    public func with<R: Sendable>(_ loop: any EventLoop, _ body: (inout TokenCache) -> R) -> R {
        caches.with(loop, body)
    }
}
