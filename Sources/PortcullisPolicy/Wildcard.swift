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

    public init(_ pattern: String, ignoreCase: Bool = false) {
        self.ignoreCase = ignoreCase
        let bytes = Array(pattern.utf8)
        self.pattern = ignoreCase ? bytes.map(Self.lower) : bytes
        isLiteral = !bytes.contains(0x2A) && !bytes.contains(0x3F)
        matchesAll = !bytes.isEmpty && bytes.allSatisfy { $0 == 0x2A }
        let stars = bytes.filter { $0 == 0x2A }.count
        literalPrefix = bytes.last == 0x2A && stars == 1 && !bytes.contains(0x3F) ? bytes.count - 1 : nil
    }

    /// The pattern as written (lower-cased if it ignores case).
    public var text: String { String(decoding: pattern, as: UTF8.self) }

    static func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c + 32 : c }

    public func matches(_ text: String) -> Bool {
        if let r = text.utf8.withContiguousStorageIfAvailable({ matches($0) }) { return r }
        return Array(text.utf8).withUnsafeBufferPointer { matches($0) }
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
