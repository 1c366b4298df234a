/// Base64url without padding (RFC 7515 §2), strict: padding, whitespace, the `+` `/` alphabet and
/// non-zero trailing bits are all refused, so one token has exactly one spelling (no malleability
/// that could defeat the exact-token cache or let an altered signature through).
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// 0xFF marks a byte that is not in the alphabet.
    private static let table: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var buffer: UInt32 = 0
        var bits = 0
        for b in bytes {
            buffer = buffer << 8 | UInt32(b)
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(alphabet[Int((buffer >> UInt32(bits)) & 0x3F)])
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(6 - bits)) & 0x3F)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `input`; nil if it is not canonical unpadded base64url.
    /// Four characters at a time into storage sized once; a character outside the alphabet maps
    /// to 0xFF, so one test of the high bits of four table values finds it.
    public static func decode(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        let n = input.count
        let rest = n % 4
        if rest == 1 { return nil }
        var ok = true
        let out = table.withUnsafeBufferPointer { t in
            [UInt8](unsafeUninitializedCapacity: n / 4 * 3 + max(0, rest - 1)) { out, initialized in
                var i = 0
                var o = 0
                while i + 4 <= n {
                    let a = t[Int(input[i])], b = t[Int(input[i + 1])], c = t[Int(input[i + 2])], d = t[Int(input[i + 3])]
                    if (a | b | c | d) & 0xC0 != 0 {
                        ok = false
                        break
                    }
                    let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    out[o] = UInt8(truncatingIfNeeded: v >> 16)
                    out[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                    out[o + 2] = UInt8(truncatingIfNeeded: v)
                    i += 4
                    o += 3
                }
                if ok && rest > 0 {
                    let a = t[Int(input[i])], b = t[Int(input[i + 1])]
                    let c = rest == 3 ? t[Int(input[i + 2])] : 0
                    // Leftover bits must be zero: "QQ" is the only spelling of 0x41, not "QR".
                    if (a | b | c) & 0xC0 != 0 || (rest == 2 ? b & 0x0F : c & 0x03) != 0 {
                        ok = false
                    } else {
                        let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6
                        out[o] = UInt8(truncatingIfNeeded: v >> 16)
                        o += 1
                        if rest == 3 {
                            out[o] = UInt8(truncatingIfNeeded: v >> 8)
                            o += 1
                        }
                    }
                }
                initialized = ok ? o : 0
            }
        }
        return ok ? out : nil
    }

    public static func decode(_ input: some StringProtocol) -> [UInt8]? {
        var s = String(input)
        return s.withUTF8 { decode(UnsafeRawBufferPointer($0)) }
    }
}
