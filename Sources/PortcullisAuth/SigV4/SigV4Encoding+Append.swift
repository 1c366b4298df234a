import PortcullisCore

/// The canonical pieces written straight into a reused buffer, for the verifier's byte path: the
/// same rules as `SigV4Encoding` and `SigV4` (which build arrays and Strings per call), with no
/// intermediate array. Each function makes room for its worst case once and writes through a
/// pointer. Checked against the String versions by SigV4ByteTests.
extension SigV4Encoding {
    /// Upper-case hex digit of `v` (0...15).
    @inline(__always)
    static func upperHexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x37 + v }

    /// Lower-case hex digit of `v` (0...15).
    @inline(__always)
    static func lowerHexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x57 + v }

    /// Writes `c` as the canonical encoding does at `p[k]` and returns the next index.
    @inline(__always)
    static func putEncoded(_ c: UInt8, keepSlash: Bool, _ p: UnsafeMutablePointer<UInt8>, _ k: Int) -> Int {
        if isUnreserved(c) || (keepSlash && c == 0x2F) {
            p[k] = c
            return k + 1
        }
        p[k] = 0x25
        p[k + 1] = upperHexDigit(c >> 4)
        p[k + 2] = upperHexDigit(c & 0x0F)
        return k + 3
    }

    /// `decode(bytes, plusAsSpace:)` then `encode(_, keepSlash: false)`, in one pass.
    static func appendDecodedThenEncoded(_ b: UnsafeRawBufferPointer, plusAsSpace: Bool, to out: inout ByteScratch) {
        out.write(maxCount: 3 * b.count) { p in
            var i = 0, k = 0
            let n = b.count
            while i < n {
                let c = b[i]
                // Most bytes are unreserved and stay as they are.
                if isUnreserved(c) {
                    p[k] = c
                    k += 1
                    i += 1
                    continue
                }
                if c == 0x25, i + 2 < n, let h = Hex.value(b[i + 1]), let l = Hex.value(b[i + 2]) {
                    k = putEncoded(h << 4 | l, keepSlash: false, p, k)
                    i += 3
                    continue
                }
                k = putEncoded(plusAsSpace && c == 0x2B ? 0x20 : c, keepSlash: false, p, k)
                i += 1
            }
            return k
        }
    }

    /// `decode(bytes, plusAsSpace: true)` appended to `out`.
    static func appendDecoded(_ b: UnsafeRawBufferPointer, to out: inout ByteScratch) {
        out.write(maxCount: b.count) { p in
            var i = 0, k = 0
            let n = b.count
            while i < n {
                let c = b[i]
                if c == 0x25, i + 2 < n, let h = Hex.value(b[i + 1]), let l = Hex.value(b[i + 2]) {
                    p[k] = h << 4 | l
                    i += 3
                } else {
                    p[k] = c == 0x2B ? 0x20 : c
                    i += 1
                }
                k += 1
            }
            return k
        }
    }

    /// `SigV4.canonicalURI`: the path normalised (`normalizePath`) and encoded again keeping `/`,
    /// segment by segment. A `..` takes back the last segment written: encoded segments hold no
    /// `/`, so it starts after the last one written.
    static func appendCanonicalURI(_ path: UnsafeRawBufferPointer, to out: inout ByteScratch) {
        out.write(maxCount: 3 * path.count + 2) { p in
            p[0] = 0x2F
            var k = 1
            var segments = 0
            var trailing = false
            var start = 0
            let n = path.count
            while true {
                var end = start
                while end < n && path[end] != 0x2F { end += 1 }
                trailing = false
                switch end - start {
                case 0:
                    trailing = true
                case 1 where path[start] == 0x2E:
                    trailing = true
                case 2 where path[start] == 0x2E && path[start + 1] == 0x2E:
                    if segments > 0 {
                        // Back to the slash before the last segment; the root one stays.
                        k -= 1
                        while k > 0 && p[k] != 0x2F { k -= 1 }
                        if segments == 1 { k = 1 }
                        segments -= 1
                    }
                    trailing = true
                default:
                    if segments > 0 {
                        p[k] = 0x2F
                        k += 1
                    }
                    for i in start..<end { k = putEncoded(path[i], keepSlash: true, p, k) }
                    segments += 1
                }
                if end >= n { break }
                start = end + 1
            }
            if trailing && segments > 0 {
                p[k] = 0x2F
                k += 1
            }
            return k
        }
    }

    /// `SigV4.canonicalHeaderValue`: trimmed, inner runs of whitespace as one space.
    static func appendCanonicalHeaderValue(_ value: UnsafeRawBufferPointer, to out: inout ByteScratch) {
        out.write(maxCount: value.count) { p in
            var k = 0
            var pendingSpace = false
            for c in value {
                if c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A {
                    pendingSpace = k > 0
                    continue
                }
                if pendingSpace {
                    p[k] = 0x20
                    k += 1
                    pendingSpace = false
                }
                p[k] = c
                k += 1
            }
            return k
        }
    }

    /// `bytes` as lower-case hex (a digest in the string to sign, a computed signature).
    static func appendLowerHex(_ bytes: [UInt8], to out: inout ByteScratch) {
        out.write(maxCount: 2 * bytes.count) { p in
            var k = 0
            for b in bytes {
                p[k] = lowerHexDigit(b >> 4)
                p[k + 1] = lowerHexDigit(b & 0x0F)
                k += 2
            }
            return k
        }
    }
}
