internal import COpenSSL

/// Conversion between JOSE's raw ECDSA signature form (`r || s`, each exactly one coordinate long)
/// and the DER `ECDSA-Sig-Value` SEQUENCE that OpenSSL signs and verifies.
enum ECDSASignatureEncoding {
    /// DER for a raw JOSE signature, or `nil` when it must be rejected: wrong total length, or r or s
    /// equal to zero or not below the group order (such values are never produced by a signer, and
    /// accepting them has broken verifiers before: the "psychic signatures" bug, CVE-2022-21449).
    static func der(fromRaw raw: [UInt8], curve: ECCurve) -> [UInt8]? {
        let size = curve.coordinateSize
        guard raw.count == 2 * size else { return nil }
        let order = curve.order
        let r = raw[0..<size]
        let s = raw[size..<(2 * size)]
        guard Self.isInRange(r, order: order), Self.isInRange(s, order: order) else { return nil }

        guard let signature = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(signature) }
        let rNumber = r.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32(size), nil) }
        let sNumber = s.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32(size), nil) }
        guard let rNumber, let sNumber else {
            BN_free(rNumber)
            BN_free(sNumber)
            return nil
        }
        // On success ECDSA_SIG_set0 takes ownership of both numbers.
        guard ECDSA_SIG_set0(signature, rNumber, sNumber) == 1 else {
            BN_free(rNumber)
            BN_free(sNumber)
            return nil
        }
        let length = i2d_ECDSA_SIG(signature, nil)
        guard length > 0 else { return nil }
        return [UInt8](unsafeUninitializedCapacity: Int(length)) { buffer, count in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            count = Int(i2d_ECDSA_SIG(signature, &cursor))
        }
    }

    /// The raw JOSE form of a DER signature made by OpenSSL for `curve`.
    static func raw(fromDER der: [UInt8], curve: ECCurve) throws -> [UInt8] {
        OpenSSLError.clearQueue()
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &cursor, buffer.count)
        }
        guard let parsed else { throw KeyError.openSSL(OpenSSLError.drain("decoding an ECDSA signature")) }
        defer { ECDSA_SIG_free(parsed) }
        let size = curve.coordinateSize
        return try [UInt8](unsafeUninitializedCapacity: 2 * size) { buffer, count in
            let base = buffer.baseAddress!
            guard BN_bn2binpad(ECDSA_SIG_get0_r(parsed), base, Int32(size)) == size,
                BN_bn2binpad(ECDSA_SIG_get0_s(parsed), base + size, Int32(size)) == size
            else {
                throw KeyError.invalidEncoding("ECDSA signature component larger than the curve")
            }
            count = 2 * size
        }
    }

    /// 0 < value < order, both big-endian of equal length. Public data, so no constant-time need.
    private static func isInRange(_ value: ArraySlice<UInt8>, order: [UInt8]) -> Bool {
        guard value.contains(where: { $0 != 0 }) else { return false }
        for (v, n) in zip(value, order) where v != n {
            return v < n
        }
        return false  // equal to the order
    }
}
