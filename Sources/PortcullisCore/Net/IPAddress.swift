/// An IPv4 or IPv6 address as integers, for CIDR checks without allocation.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt64, UInt64)

    /// Parses dotted IPv4 or RFC 4291 IPv6 text (with `::` and an embedded IPv4 tail).
    public init?(_ text: some StringProtocol) {
        if text.contains(":") {
            guard let v = IPAddress.parseV6(Array(text.utf8)) else { return nil }
            self = v
        } else {
            guard let v = IPAddress.parseV4(Array(text.utf8)) else { return nil }
            self = .v4(v)
        }
    }

    /// IPv4-mapped IPv6 (::ffff:a.b.c.d) as the IPv4 address it carries.
    public var unmapped: IPAddress {
        if case .v6(let hi, let lo) = self, hi == 0, lo >> 32 == 0xFFFF {
            return .v4(UInt32(truncatingIfNeeded: lo))
        }
        return self
    }

    public var description: String {
        switch self {
        case .v4(let a):
            return "\(a >> 24).\((a >> 16) & 255).\((a >> 8) & 255).\(a & 255)"
        case .v6(let hi, let lo):
            var groups: [UInt16] = []
            for k in 0..<4 { groups.append(UInt16(truncatingIfNeeded: hi >> (48 - 16 * UInt64(k)))) }
            for k in 0..<4 { groups.append(UInt16(truncatingIfNeeded: lo >> (48 - 16 * UInt64(k)))) }
            // Compress the longest run of zero groups (RFC 5952).
            var bestStart = -1, bestLen = 0, k = 0
            while k < 8 {
                if groups[k] == 0 {
                    var e = k
                    while e < 8 && groups[e] == 0 { e += 1 }
                    if e - k > bestLen && e - k > 1 { bestStart = k; bestLen = e - k }
                    k = e
                } else { k += 1 }
            }
            var out = ""
            k = 0
            while k < 8 {
                if k == bestStart {
                    out += "::"
                    k += bestLen
                    continue
                }
                if !out.isEmpty && !out.hasSuffix(":") { out += ":" }
                out += String(groups[k], radix: 16)
                k += 1
            }
            return out
        }
    }

    static func parseV4(_ b: [UInt8]) -> UInt32? {
        var result: UInt32 = 0
        var part: UInt32 = 0
        var digits = 0
        var dots = 0
        for c in b {
            if c == UInt8(ascii: ".") {
                guard digits > 0 else { return nil }
                result = result << 8 | part
                part = 0
                digits = 0
                dots += 1
            } else if c >= 48 && c <= 57 {
                guard digits < 3, !(digits > 0 && part == 0) else { return nil }
                part = part * 10 + UInt32(c - 48)
                guard part <= 255 else { return nil }
                digits += 1
            } else {
                return nil
            }
        }
        guard dots == 3, digits > 0 else { return nil }
        return result << 8 | part
    }

    static func parseV6(_ b: [UInt8]) -> IPAddress? {
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawDoubleColon = false
        var i = 0
        let n = b.count
        if n >= 2 && b[0] == 58 && b[1] == 58 {
            sawDoubleColon = true
            i = 2
        } else if n > 0 && b[0] == 58 {
            return nil
        }
        while i < n {
            // An embedded IPv4 tail takes the last two groups.
            let rest = Array(b[i...])
            let group = rest.prefix { $0 != 58 }
            if group.contains(UInt8(ascii: ".")) {
                guard group.count == rest.count else { return nil }
                guard let v4 = parseV4(rest) else { return nil }
                let groups = [UInt16(v4 >> 16), UInt16(v4 & 0xFFFF)]
                if sawDoubleColon { tail += groups } else { head += groups }
                i = n
                break
            }
            var value: UInt32 = 0
            var digits = 0
            while i < n, let h = Hex.value(b[i]) {
                value = value << 4 | UInt32(h)
                digits += 1
                guard digits <= 4 else { return nil }
                i += 1
            }
            guard digits > 0 else { return nil }
            if sawDoubleColon { tail.append(UInt16(value)) } else { head.append(UInt16(value)) }
            if i == n { break }
            guard b[i] == 58 else { return nil }
            i += 1
            if i < n && b[i] == 58 {
                guard !sawDoubleColon else { return nil }
                sawDoubleColon = true
                i += 1
                if i == n { break }
            } else if i == n {
                return nil
            }
        }
        let total = head.count + tail.count
        guard total <= 8, sawDoubleColon ? total < 8 : total == 8 else { return nil }
        let groups = head + Array(repeating: 0, count: 8 - total) + tail
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for k in 0..<4 { hi = hi << 16 | UInt64(groups[k]) }
        for k in 4..<8 { lo = lo << 16 | UInt64(groups[k]) }
        return .v6(hi, lo)
    }

}

/// An address block such as 10.0.0.0/8 or 2001:db8::/32. A bare address is a /32 or /128.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let addr = IPAddress(parts[0]) else { return nil }
        let maxLen: Int
        if case .v4 = addr { maxLen = 32 } else { maxLen = 128 }
        var len = maxLen
        if parts.count == 2 {
            guard let l = Int(parts[1]), l >= 0, l <= maxLen else { return nil }
            len = l
        }
        self.address = CIDR.mask(addr, len)
        self.prefixLength = len
    }

    public var description: String { "\(address)/\(prefixLength)" }

    public func contains(_ ip: IPAddress) -> Bool {
        let ip = ip.unmapped
        switch (address, ip) {
        case (.v4, .v4), (.v6, .v6):
            return CIDR.mask(ip, prefixLength) == address
        default:
            return false
        }
    }

    static func mask(_ ip: IPAddress, _ len: Int) -> IPAddress {
        switch ip {
        case .v4(let a):
            return .v4(len == 0 ? 0 : a & ~UInt32(0) << UInt32(32 - len))
        case .v6(let hi, let lo):
            if len >= 64 {
                let l = len - 64
                return .v6(hi, l == 0 ? 0 : lo & ~UInt64(0) << UInt64(64 - l))
            }
            return .v6(len == 0 ? 0 : hi & ~UInt64(0) << UInt64(64 - len), 0)
        }
    }
}
