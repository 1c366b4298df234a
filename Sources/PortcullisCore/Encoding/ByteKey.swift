/// A cache key that is a run of bytes (a token, an authorizer's identity values), hashed once.
///
/// The tables that hold these keys hash the stored `hash` (one word), not the bytes: a Swift
/// dictionary rehashes the neighbours of every key it removes, and a 500-byte token hashed again
/// per eviction cost more than the JWT check's own bookkeeping (jwt_unique, benchmarks/README.md).
/// Equality still compares every byte (`memcmp`), so two keys that share a hash never share an
/// entry, and the hash covers every byte from a random per-process seed (`FastHash`), so a
/// client cannot aim many keys at one bucket.
///
/// A probe (`ByteKey.probe`) borrows bytes where they lie (in the request head, or written into
/// a stack buffer): a lookup on the request path then makes no String and no allocation. A probe
/// is valid only inside its closure and is never stored: a table takes `owned` of any key it
/// keeps.
public struct ByteKey: Hashable, @unchecked Sendable, CustomStringConvertible {
    // @unchecked: `.borrowed` holds a pointer valid only inside `probe`'s closure, where the
    // lookups that use it run; stored keys always own their bytes.
    @usableFromInline
    enum Storage {
        case owned(String)
        case borrowed(UnsafeRawBufferPointer)
    }

    @usableFromInline let storage: Storage
    public let hash: Int

    public init(_ text: String) {
        storage = .owned(text)
        var t = text
        hash = t.withUTF8 { Self.hash(UnsafeRawBufferPointer($0)) }
    }

    /// A key with a chosen hash: tests of keys that share one.
    public init(_ text: String, hash: Int) {
        storage = .owned(text)
        self.hash = hash
    }

    @usableFromInline
    init(storage: Storage, hash: Int) {
        self.storage = storage
        self.hash = hash
    }

    /// Runs `body` with a key that borrows `bytes`: for lookups only. Whatever keeps the key
    /// beyond the closure takes `owned`.
    @inlinable
    public static func probe<R>(_ bytes: UnsafeRawBufferPointer, _ body: (ByteKey) -> R) -> R {
        body(ByteKey(storage: .borrowed(bytes), hash: hash(bytes)))
    }

    /// A seeded hash of every byte: `FastHash` (a word at a time), not the standard library's
    /// SipHash, which took about a fifth of a nanosecond a byte, 70-100 ns for a token.
    @inlinable
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        Int(truncatingIfNeeded: FastHash.hash(bytes, seed: FastHash.processSeed))
    }

    /// True when the key owns its bytes (it may be stored).
    @inlinable
    public var isOwned: Bool {
        if case .owned = storage { return true }
        return false
    }

    /// This key with bytes of its own: itself when it has them, a copy of a probe's otherwise.
    /// The copy is a String, which repairs bytes that are not UTF-8; its hash is then made again
    /// from the repaired bytes, so every owned key of one text has one hash (such a probe itself
    /// never equals the copy: its lookups take the slower owned path, never a wrong entry).
    @inlinable
    public var owned: ByteKey {
        switch storage {
        case .owned: return self
        case .borrowed(let b):
            // Hashed again (only a miss, a refresh or a re-ask makes a copy): cheaper than
            // checking whether the repair changed a byte.
            return ByteKey(String(decoding: b, as: UTF8.self))
        }
    }

    /// The bytes as text (a probe's only while its closure runs).
    public var text: String {
        switch storage {
        case .owned(let s): return s
        case .borrowed(let b): return String(decoding: b, as: UTF8.self)
        }
    }

    public var description: String { text }

    /// The number of bytes.
    @inlinable
    public var count: Int {
        switch storage {
        case .owned(let s): return s.utf8.count
        case .borrowed(let b): return b.count
        }
    }

    @inlinable
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch storage {
        case .owned(var s): return s.withUTF8 { body(UnsafeRawBufferPointer($0)) }
        case .borrowed(let b): return body(b)
        }
    }

    @inlinable
    public func hash(into hasher: inout Hasher) { hasher.combine(hash) }

    /// The bytes, not Unicode equivalence: one token's entry answers that token only.
    @inlinable
    public static func == (a: ByteKey, b: ByteKey) -> Bool {
        a.hash == b.hash && a.withBytes { x in b.withBytes { y in Bytes.equal(x, y) } }
    }
}

extension ByteKey: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self.init(value) }
}
