internal import COpenSSL

/// The public JWK members of a key (RFC 7517/7518/8037), for printing a JWKS.
extension PublicKey {
    /// `kty` and the key members, values already base64url-encoded without padding:
    /// RSA `n`, `e`; EC `crv`, `x`, `y`; OKP `crv`, `x`. No `kid`, `use` or `alg`: those are the caller's.
    public var jwkMembers: [String: String] {
        switch self.kind {
        case .rsa:
            return [
                "kty": "RSA",
                "n": Base64URL.encode(self.bigNumberParameter("n", paddedTo: 0)),
                "e": Base64URL.encode(self.bigNumberParameter("e", paddedTo: 0)),
            ]
        case .ec(let curve):
            return [
                "kty": "EC",
                "crv": curve.jwkName,
                "x": Base64URL.encode(self.bigNumberParameter("qx", paddedTo: curve.coordinateSize)),
                "y": Base64URL.encode(self.bigNumberParameter("qy", paddedTo: curve.coordinateSize)),
            ]
        case .ed25519:
            var raw = [UInt8](repeating: 0, count: 32)
            var length = raw.count
            let ok = EVP_PKEY_get_raw_public_key(self.pkey, &raw, &length)
            precondition(ok == 1 && length == 32, "EVP_PKEY_get_raw_public_key failed")
            return ["kty": "OKP", "crv": "Ed25519", "x": Base64URL.encode(raw)]
        }
    }

    /// A big-number parameter of the key, big-endian, minimal (`size` 0) or left-padded to `size`.
    private func bigNumberParameter(_ name: String, paddedTo size: Int) -> [UInt8] {
        var number: OpaquePointer? = nil
        guard EVP_PKEY_get_bn_param(self.pkey, name, &number) == 1, let number else {
            preconditionFailure("key of kind \(self.kind) has no \(name) parameter")
        }
        defer { BN_free(number) }
        let length = size > 0 ? size : Int((BN_num_bits(number) + 7) / 8)
        return [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
            count = Int(BN_bn2binpad(number, buffer.baseAddress, Int32(length)))
        }
    }
}

/// Base64url without padding (RFC 4648 section 5), as JOSE uses it.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in stride(from: 18, through: 0, by: -6) {
                out.append(Self.alphabet[Int((chunk >> UInt32(shift)) & 0x3F)])
            }
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            var chunk = UInt32(bytes[index]) << 16
            if rest == 2 { chunk |= UInt32(bytes[index + 1]) << 8 }
            out.append(Self.alphabet[Int((chunk >> 18) & 0x3F)])
            out.append(Self.alphabet[Int((chunk >> 12) & 0x3F)])
            if rest == 2 { out.append(Self.alphabet[Int((chunk >> 6) & 0x3F)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
