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
    public static func decode(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        let n = input.count
        if n % 4 == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(n * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        for c in input {
            let v = table[Int(c)]
            if v == 0xFF { return nil }
            buffer = buffer << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero: "QQ" is the only spelling of 0x41, not "QR".
        if bits > 0 && buffer & ((1 << UInt32(bits)) - 1) != 0 { return nil }
        return out
    }

    public static func decode(_ input: some StringProtocol) -> [UInt8]? {
        var s = String(input)
        return s.withUTF8 { decode(UnsafeRawBufferPointer($0)) }
    }
}
