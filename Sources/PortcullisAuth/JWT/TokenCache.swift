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
    ///
    /// A probe (`Key.probe`) is the token's bytes where they lie in the request head, for a lookup
    /// that makes no String: the cached path reads the token in place. A probe is never stored.
    public struct Key: Hashable, @unchecked Sendable {
        // @unchecked: `probe` holds a pointer valid only inside `probe`'s closure, where the one
        // lookup that uses it runs; stored keys always own their token.
        enum Token {
            case owned(String)
            case borrowed(UnsafeRawBufferPointer)
        }
        let text: Token
        let hash: Int

        public init(_ token: String) {
            text = .owned(token)
            var t = token
            hash = t.withUTF8 { Self.hash(UnsafeRawBufferPointer($0)) }
        }

        /// A key with a chosen hash: tests of tokens that share one.
        init(token: String, hash: Int) {
            text = .owned(token)
            self.hash = hash
        }

        /// Runs `body` with a key for `bytes` that borrows them: for `lookup` only, never `insert`
        /// (internal, so its one caller, `JWTAuthorizer.evaluate`, is in this module).
        static func probe<R>(_ bytes: UnsafeRawBufferPointer, _ body: (Key) -> R) -> R {
            body(Key(text: .borrowed(bytes), hash: hash(bytes)))
        }

        private init(text: Token, hash: Int) {
            self.text = text
            self.hash = hash
        }

        static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
            var hasher = Hasher()
            hasher.combine(bytes: bytes)
            return hasher.finalize()
        }

        /// The token of a key made from a String (a probe's only while its closure runs).
        public var token: String {
            switch text {
            case .owned(let s): return s
            case .borrowed(let b): return String(decoding: b, as: UTF8.self)
            }
        }

        func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
            switch text {
            case .owned(var s): return s.withUTF8 { body(UnsafeRawBufferPointer($0)) }
            case .borrowed(let b): return body(b)
            }
        }

        public func hash(into hasher: inout Hasher) { hasher.combine(hash) }

        /// The bytes, not Unicode equivalence: one token's entry answers that token only.
        public static func == (a: Key, b: Key) -> Bool {
            a.hash == b.hash && a.withBytes { x in b.withBytes { y in Bytes.equal(x, y) } }
        }
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
