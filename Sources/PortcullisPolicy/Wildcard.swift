#if canImport(Glibc)
import Glibc
#endif
import PortcullisCore

/// An IAM wildcard pattern: `*` matches any run of characters (also none), `?` exactly one.
/// Compiled once when a policy loads; matching walks the text's own bytes without allocating.
public struct Wildcard: Sendable, Equatable {
    let pattern: [UInt8]
    let ignoreCase: Bool
    let isLiteral: Bool
    /// The common shapes, decided at load: `*` alone, and one trailing `*` after literal text
    /// (`arn:...:api-id/*`), matched without the general loop.
    let matchesAll: Bool
    let literalPrefix: Int?
    /// `*text*` and `*text` (no other `*` or `?`, case kept): a substring search and a suffix
    /// compare, as User-Agent conditions are usually written (`*bot*`).
    let literalInfix: Bool
    let literalSuffix: Bool

    public init(_ pattern: String, ignoreCase: Bool = false) {
        self.ignoreCase = ignoreCase
        let bytes = Array(pattern.utf8)
        self.pattern = ignoreCase ? bytes.map(Self.lower) : bytes
        isLiteral = !bytes.contains(0x2A) && !bytes.contains(0x3F)
        matchesAll = !bytes.isEmpty && bytes.allSatisfy { $0 == 0x2A }
        let stars = bytes.filter { $0 == 0x2A }.count
        literalPrefix = bytes.last == 0x2A && stars == 1 && !bytes.contains(0x3F) ? bytes.count - 1 : nil
        let plain = !ignoreCase && !bytes.contains(0x3F) && bytes.count >= 2 && bytes.first == 0x2A
        literalInfix = plain && bytes.count >= 3 && bytes.last == 0x2A && stars == 2
        literalSuffix = plain && bytes.last != 0x2A && stars == 1
    }

    /// The pattern as written (lower-cased if it ignores case).
    public var text: String { String(decoding: pattern, as: UTF8.self) }

    static func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c + 32 : c }

    public func matches(_ text: String) -> Bool {
        if let r = text.utf8.withContiguousStorageIfAvailable({ matches($0) }) { return r }
        return Array(text.utf8).withUnsafeBufferPointer { matches($0) }
    }

    /// Whether `needle` (not empty) occurs in `text`: `memchr` to each place its first byte is,
    /// then `memcmp`.
    static func contains(_ text: UnsafeRawBufferPointer, _ needle: UnsafeRawBufferPointer) -> Bool {
        let n = needle.count
        guard n > 0, text.count >= n, let base = text.baseAddress, let want = needle.baseAddress else { return n == 0 }
        let last = text.count - n
        var i = 0
        while i <= last {
            guard let hit = memchr(base + i, Int32(needle[0]), last - i + 1) else { return false }
            let j = UnsafeRawPointer(hit) - base
            if memcmp(base + j, want, n) == 0 { return true }
            i = j + 1
        }
        return false
    }

    func matches(_ t: UnsafeBufferPointer<UInt8>) -> Bool {
        let fold = ignoreCase
        @inline(__always) func at(_ i: Int) -> UInt8 { fold ? Self.lower(t[i]) : t[i] }
        if matchesAll { return true }
        if isLiteral || literalPrefix != nil {
            let n = literalPrefix ?? pattern.count
            guard isLiteral ? t.count == n : t.count >= n else { return false }
            for i in 0..<n where at(i) != pattern[i] { return false }
            return true
        }
        if literalInfix || literalSuffix {
            let n = literalInfix ? pattern.count - 2 : pattern.count - 1
            guard t.count >= n else { return false }
            return pattern.withUnsafeBufferPointer { p in
                let needle = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(p)[1..<(1 + n)])
                if literalSuffix { return Bytes.equal(needle, UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(t)[(t.count - n)...])) }
                return Self.contains(UnsafeRawBufferPointer(t), needle)
            }
        }
        // Greedy with backtracking to the last star: linear in practice, no recursion.
        var p = 0, s = 0, star = -1, mark = 0
        while s < t.count {
            if p < pattern.count && (pattern[p] == 0x3F || pattern[p] == at(s)) {
                s += 1
                // `?` is one character: the continuation bytes of a multi-byte one go with it.
                if pattern[p] == 0x3F { while s < t.count && t[s] & 0xC0 == 0x80 { s += 1 } }
                p += 1
            } else if p < pattern.count && pattern[p] == 0x2A {
                star = p
                mark = s
                p += 1
            } else if star >= 0 {
                p = star + 1
                mark += 1
                s = mark
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == 0x2A { p += 1 }
        return p == pattern.count
    }
}

/// A wildcard pattern as a bit-parallel automaton, for text that arrives in pieces: bit `i` of a
/// state means "the first `i` pattern bytes matched so far". A state can be carried from one piece
/// to the next, so the part of a method ARN that is the same for every request of an API is run
/// once when the policy loads, and a request runs only its method and path. One table lookup, a
/// shift and two masks a byte, no backtracking. Made only for patterns without `?` (one UTF-8
/// character, not one byte) of at most 63 bytes once runs of `*` are collapsed.
@usableFromInline
struct WildcardAutomaton: Sendable {
    /// Per byte value: the positions whose pattern byte it is.
    let masks: [UInt64]
    /// The positions holding `*`.
    let stars: UInt64
    /// The bit of the whole pattern matched.
    let accept: UInt64
    /// Whether a state with this bit set matches whatever text follows (the final `*`).
    let acceptsAnyRest: UInt64

    init?(_ w: Wildcard) {
        guard !w.ignoreCase else { return nil }
        self.init(pattern: w.pattern[...])
    }

    /// The automaton of a pattern's bytes (case-sensitive), or of its tail after a literal head
    /// that the caller compared itself.
    init?(pattern: ArraySlice<UInt8>) {
        guard !pattern.contains(0x3F) else { return nil }
        var collapsed: [UInt8] = []
        for b in pattern where !(b == 0x2A && collapsed.last == 0x2A) { collapsed.append(b) }
        guard collapsed.count <= 63 else { return nil }
        var masks = [UInt64](repeating: 0, count: 256)
        var stars: UInt64 = 0
        for (i, b) in collapsed.enumerated() {
            if b == 0x2A { stars |= 1 << UInt64(i) } else { masks[Int(b)] |= 1 << UInt64(i) }
        }
        self.masks = masks
        self.stars = stars
        accept = 1 << UInt64(collapsed.count)
        acceptsAnyRest = collapsed.last == 0x2A ? 1 << UInt64(collapsed.count - 1) : 0
    }

    /// A star at `i` also stands for nothing: position `i + 1` is reached as well.
    @inline(__always)
    func closure(_ d: UInt64) -> UInt64 { d | ((d & stars) << 1) }

    var start: UInt64 { closure(1) }

    @inline(__always)
    func step(_ d: UInt64, _ byte: UInt8) -> UInt64 {
        closure(((d & masks[Int(byte)]) << 1) | (d & stars))
    }

    @usableFromInline
    func run(_ d: UInt64, _ text: UnsafeRawBufferPointer) -> UInt64 {
        var d = d
        for b in text {
            d = step(d, b)
            if d == 0 || d & acceptsAnyRest != 0 { return d }
        }
        return d
    }

    func run(_ d: UInt64, _ text: String) -> UInt64 {
        var text = text
        return text.withUTF8 { run(d, UnsafeRawBufferPointer($0)) }
    }

    @usableFromInline
    func accepts(_ d: UInt64) -> Bool { d & (accept | acceptsAnyRest) != 0 }
}
