import PortcullisCore

/// The byte-level rules of SigV4's canonical request for services other than S3 (what API
/// Gateway recomputes; docs/ARCHITECTURE.md, "SigV4"): URI encoding with upper-case hex, path
/// normalisation, and query decoding. Pure functions over bytes: no Foundation, no allocation
/// beyond the output.
enum SigV4Encoding {
    /// `A-Z a-z 0-9 - . _ ~` stay as they are; every other byte becomes `%XX`.
    /// (A bit per ASCII byte, tested with a shift: one branch instead of seven comparisons.)
    @inline(__always)
    static func isUnreserved(_ c: UInt8) -> Bool {
        // Bytes 0-63: - . 0-9; bytes 64-127: A-Z _ a-z ~.
        let low: UInt64 = 1 << 0x2D | 1 << 0x2E | 0x3FF << 0x30
        let high: UInt64 = 0x7FF_FFFE | 1 << (0x5F - 64) | 0x7FF_FFFE << 32 | 1 << (0x7E - 64)
        if c < 64 { return (low >> UInt64(c)) & 1 == 1 }
        if c < 128 { return (high >> UInt64(c - 64)) & 1 == 1 }
        return false
    }

    static let hex: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// Percent-encodes every byte but the unreserved ones (and `/` when `keepSlash`), upper-case.
    static func encode(_ bytes: some Collection<UInt8>, keepSlash: Bool, into out: inout [UInt8]) {
        for c in bytes {
            if isUnreserved(c) || (keepSlash && c == 0x2F) {
                out.append(c)
            } else {
                out.append(0x25)
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 0x0F)])
            }
        }
    }

    /// Decodes `%XX` escapes (a malformed one stays as it is) and, in queries, `+` as a space, as
    /// API Gateway reads what it received before encoding it again.
    static func decode(_ bytes: some Collection<UInt8>, plusAsSpace: Bool) -> [UInt8] {
        let b = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            let c = b[i]
            if c == 0x25, i + 2 < b.count, let h = Hex.value(b[i + 1]), let l = Hex.value(b[i + 2]) {
                out.append(h << 4 | l)
                i += 3
                continue
            }
            out.append(plusAsSpace && c == 0x2B ? 0x20 : c)
            i += 1
        }
        return out
    }

    /// RFC 3986 dot-segment removal with repeated slashes collapsed: `/a//b/./c/../` is `/a/b/`.
    /// A trailing slash (or a final `.`/`..` segment) keeps the result ending in `/`; empty is `/`.
    static func normalizePath(_ path: some Collection<UInt8>) -> [UInt8] {
        var segments: [ArraySlice<UInt8>] = []
        let bytes = Array(path)
        var trailing = false
        for raw in bytes.split(separator: 0x2F, omittingEmptySubsequences: false) {
            trailing = false
            switch raw.count {
            case 0:
                trailing = true
            case 1 where raw.first == 0x2E:
                trailing = true
            case 2 where raw.first == 0x2E && raw.last == 0x2E:
                if !segments.isEmpty { segments.removeLast() }
                trailing = true
            default:
                segments.append(raw)
            }
        }
        var out: [UInt8] = [0x2F]
        for (i, s) in segments.enumerated() {
            if i > 0 { out.append(0x2F) }
            out += s
        }
        if trailing && !segments.isEmpty { out.append(0x2F) }
        return out
    }
}
