internal import COpenSSL

/// Public keys from their JWK members (RFC 7518 section 6, RFC 8037), validated before use.
extension PublicKey {
    /// An RSA key from the big-endian modulus `n` and exponent `e` (leading zero bytes allowed).
    /// Moduli under 2048 bits are refused.
    public static func rsa(modulus: [UInt8], exponent: [UInt8]) throws -> PublicKey {
        let significant = modulus.drop(while: { $0 == 0 })
        let bits = significant.isEmpty ? 0 : significant.count * 8 - significant.first!.leadingZeroBitCount
        guard bits >= 2048 else { throw KeyError.rsaModulusTooSmall(bits: bits) }
        guard let last = exponent.last, last & 1 == 1, exponent.contains(where: { $0 != 0 }),
            exponent.drop(while: { $0 == 0 }).count <= 8, exponent.drop(while: { $0 == 0 }) != [1]
        else {
            throw KeyError.invalidEncoding("RSA public exponent must be odd, greater than 1 and at most 64 bits")
        }
        let builder = try ParameterBuilder()
        try builder.pushBigNumber("n", modulus)
        try builder.pushBigNumber("e", exponent)
        return try PublicKey(taking: builder.makePublicKey(type: "RSA"))
    }

    /// An EC key from the affine coordinates `x` and `y`, each exactly ``ECCurve/coordinateSize``
    /// bytes as JWK requires. The point must be on the curve and not the point at infinity.
    public static func ec(curve: ECCurve, x: [UInt8], y: [UInt8]) throws -> PublicKey {
        guard x.count == curve.coordinateSize, y.count == curve.coordinateSize else {
            throw KeyError.invalidECPoint(
                "\(curve.jwkName) coordinates must be \(curve.coordinateSize) bytes, got x \(x.count) and y \(y.count)")
        }
        let builder = try ParameterBuilder()
        try builder.pushString("group", curve.jwkName)
        try builder.pushOctets("pub", [0x04] + x + y)  // SEC 1 uncompressed point
        let pkey: OpaquePointer
        do {
            pkey = try builder.makePublicKey(type: "EC")
        } catch {
            throw KeyError.invalidECPoint("point is not on \(curve.jwkName)")
        }
        let key = try PublicKey(taking: pkey)
        // Import already decodes the point; the full public check also rules out the point at
        // infinity and points outside the prime-order subgroup.
        guard key.passesPublicCheck() else {
            throw KeyError.invalidECPoint("point is not a valid \(curve.jwkName) public key")
        }
        return key
    }

    /// An Ed25519 key from its 32 raw bytes (the JWK `x` of an OKP key).
    public static func ed25519(raw: [UInt8]) throws -> PublicKey {
        guard raw.count == 32 else {
            throw KeyError.invalidEncoding("Ed25519 public keys are 32 bytes, got \(raw.count)")
        }
        OpenSSLError.clearQueue()
        let pkey = raw.withUnsafeBufferPointer { EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) }
        guard let pkey else { throw KeyError.openSSL(OpenSSLError.drain("importing an Ed25519 public key")) }
        return try PublicKey(taking: pkey)
    }

    /// `EVP_PKEY_public_check`: OpenSSL's validation of the public half.
    func passesPublicCheck() -> Bool {
        OpenSSLError.clearQueue()
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, self.pkey, nil) else { return false }
        defer {
            EVP_PKEY_CTX_free(context)
            OpenSSLError.clearQueue()
        }
        return EVP_PKEY_public_check(context) == 1
    }
}

/// Owns an `OSSL_PARAM_BLD` and everything pushed into it, for `EVP_PKEY_fromdata`.
///
/// The builder stores *pointers* to pushed strings, octets and numbers and copies them only in
/// `OSSL_PARAM_BLD_to_param`, so this object keeps its own copies alive until it is freed.
final class ParameterBuilder {
    private let builder: OpaquePointer
    private var numbers: [OpaquePointer] = []
    private var storage: [UnsafeMutableRawBufferPointer] = []

    init() throws {
        OpenSSLError.clearQueue()
        guard let builder = OSSL_PARAM_BLD_new() else {
            throw KeyError.openSSL(OpenSSLError.drain("creating a parameter builder"))
        }
        self.builder = builder
    }

    deinit {
        OSSL_PARAM_BLD_free(self.builder)
        // The builder refers to the numbers until it is turned into params, so they go last.
        for number in self.numbers { BN_free(number) }
        for buffer in self.storage { buffer.deallocate() }
    }

    /// A copy of `bytes` (plus a NUL, for strings) that lives as long as this builder.
    private func retained(_ bytes: some Collection<UInt8>) -> UnsafeMutableRawBufferPointer {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count + 1, alignment: 1)
        buffer.copyBytes(from: bytes)
        buffer[bytes.count] = 0
        self.storage.append(buffer)
        return buffer
    }

    func pushBigNumber(_ name: StaticString, _ bigEndian: [UInt8]) throws {
        let number = bigEndian.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
        guard let number else { throw KeyError.openSSL(OpenSSLError.drain("building a big number")) }
        self.numbers.append(number)
        guard OSSL_PARAM_BLD_push_BN(self.builder, Self.cName(name), number) == 1 else {
            throw KeyError.openSSL(OpenSSLError.drain("building key parameters"))
        }
    }

    func pushString(_ name: StaticString, _ value: String) throws {
        let copy = self.retained(value.utf8)
        let ok = OSSL_PARAM_BLD_push_utf8_string(
            self.builder, Self.cName(name), copy.baseAddress!.assumingMemoryBound(to: CChar.self), value.utf8.count)
        guard ok == 1 else { throw KeyError.openSSL(OpenSSLError.drain("building key parameters")) }
    }

    func pushOctets(_ name: StaticString, _ value: [UInt8]) throws {
        let copy = self.retained(value)
        let ok = OSSL_PARAM_BLD_push_octet_string(self.builder, Self.cName(name), copy.baseAddress, value.count)
        guard ok == 1 else { throw KeyError.openSSL(OpenSSLError.drain("building key parameters")) }
    }

    /// `EVP_PKEY_fromdata` with the pushed parameters, selecting the public key.
    func makePublicKey(type: String) throws -> OpaquePointer {
        guard let params = OSSL_PARAM_BLD_to_param(self.builder) else {
            throw KeyError.openSSL(OpenSSLError.drain("building key parameters"))
        }
        defer { OSSL_PARAM_free(params) }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, type, nil) else {
            throw KeyError.openSSL(OpenSSLError.drain("creating a \(type) key context"))
        }
        defer { EVP_PKEY_CTX_free(context) }
        var pkey: OpaquePointer? = nil
        guard EVP_PKEY_fromdata_init(context) == 1,
            EVP_PKEY_fromdata(context, &pkey, CPortcullis_EVP_PKEY_PUBLIC_KEY(), params) == 1,
            let pkey
        else {
            throw KeyError.openSSL(OpenSSLError.drain("importing a \(type) public key"))
        }
        return pkey
    }

    /// The NUL-terminated bytes of a static string (StaticString literals are always NUL-terminated).
    private static func cName(_ name: StaticString) -> UnsafePointer<CChar> {
        UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
    }
}
