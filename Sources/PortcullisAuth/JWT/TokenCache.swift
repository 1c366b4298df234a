public import NIOCore
public import PortcullisCore

/// Tokens that passed signature and claim checks, by their exact text. Bounded; an entry lives
/// until min(exp + leeway, insertion + TTL). Only verified tokens are inserted, so a forged token
/// never enters (and cannot push verified tokens out).
///
/// A value type: one instance per event loop (see `TokenCaches`), mutated in place by its loop's
/// thread without a lock. Eviction is first-in-first-out, which for tokens of similar lifetimes is close to
/// oldest-expiry-first and costs O(1).
public struct TokenCache: Sendable {
    /// A token and its hash, computed once per request; a probe borrows the token's bytes
    /// where they lie in the head, so the cached path makes no String (`ByteKey`).
    public typealias Key = ByteKey

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
        let token = token.owned
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
