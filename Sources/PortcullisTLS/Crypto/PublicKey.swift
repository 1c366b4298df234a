internal import COpenSSL

/// A public key for signature verification, owning one `EVP_PKEY`.
///
/// Built once (when config or a JWKS loads) and then shared by every event loop.
/// `@unchecked Sendable`: the `EVP_PKEY` is never mutated after `init`, and OpenSSL 3 supports
/// concurrent operations on one key as long as each uses its own `EVP_MD_CTX`, which `verify` does.
public final class PublicKey: @unchecked Sendable {
    let pkey: OpaquePointer
    public let kind: KeyKind
    /// One verify context per algorithm this key can serve, initialised when the key loads and
    /// never used directly: `verify` copies one. Initialising anew costs OpenSSL 3 a fetch of the
    /// signature implementation and a key export to the provider on every call, which was most
    /// of an uncached RS256 token's cost. Only read after `init`, so sharing them is safe.
    private let verifyTemplates: [SignatureAlgorithm: OpaquePointer]

    /// Takes ownership of `pkey` (freed by this object or, if this throws, right here).
    init(taking pkey: OpaquePointer) throws {
        do {
            self.kind = try KeyKind(validating: pkey)
        } catch {
            EVP_PKEY_free(pkey)
            throw error
        }
        self.pkey = pkey
        var templates: [SignatureAlgorithm: OpaquePointer] = [:]
        for algorithm in kind.verifyAlgorithms {
            guard let ctx = EVP_MD_CTX_new() else { continue }
            if SignatureOperation.configure(ctx, key: pkey, algorithm: algorithm, forSigning: false) {
                templates[algorithm] = ctx
            } else {
                EVP_MD_CTX_free(ctx)
            }
        }
        OpenSSLError.clearQueue()
        self.verifyTemplates = templates
    }

    deinit {
        for ctx in self.verifyTemplates.values { EVP_MD_CTX_free(ctx) }
        EVP_PKEY_free(self.pkey)
    }

    /// A `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo) PEM.
    public convenience init(pem: String) throws {
        OpenSSLError.clearQueue()
        let key = try withMemoryBIO(pem) { bio in
            PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        guard let key else {
            throw KeyError.invalidEncoding("not a PEM public key: \(OpenSSLError.drain("reading a PEM public key"))")
        }
        try self.init(taking: key)
    }

    /// A DER SubjectPublicKeyInfo.
    public convenience init(der: [UInt8]) throws {
        OpenSSLError.clearQueue()
        let key: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let key = d2i_PUBKEY(nil, &cursor, buffer.count)
            // Trailing bytes after the structure mean this is not (only) a key.
            if let key, cursor != buffer.baseAddress.map({ $0 + buffer.count }) {
                EVP_PKEY_free(key)
                return nil
            }
            return key
        }
        guard let key else {
            throw KeyError.invalidEncoding("not a DER public key: \(OpenSSLError.drain("reading a DER public key"))")
        }
        try self.init(taking: key)
    }

    /// The DER SubjectPublicKeyInfo of this key.
    public var derRepresentation: [UInt8] {
        let length = i2d_PUBKEY(self.pkey, nil)
        precondition(length > 0, "i2d_PUBKEY failed")
        return [UInt8](unsafeUninitializedCapacity: Int(length)) { buffer, count in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            count = Int(i2d_PUBKEY(self.pkey, &cursor))
        }
    }

    /// Whether `signature` is a valid signature of `message` under this key with `algorithm`.
    ///
    /// Returns `false` (never throws) for anything that is not a valid signature, including a key
    /// whose kind does not fit `algorithm` and ECDSA signatures not exactly `2 * coordinateSize`
    /// bytes long or with r or s outside `1..<n`.
    public func verify(signature: [UInt8], message: UnsafeRawBufferPointer, algorithm: SignatureAlgorithm) -> Bool {
        guard self.kind.fits(algorithm) else { return false }
        var encoded = signature
        if case .ec(let curve) = self.kind {
            guard let der = ECDSASignatureEncoding.der(fromRaw: signature, curve: curve) else { return false }
            encoded = der
        }
        guard let mdContext = EVP_MD_CTX_new() else { return false }
        defer {
            EVP_MD_CTX_free(mdContext)
            // A failed verification leaves entries behind; they are not news to anyone.
            OpenSSLError.clearQueue()
        }
        OpenSSLError.clearQueue()
        let copied = verifyTemplates[algorithm].map { EVP_MD_CTX_copy_ex(mdContext, $0) == 1 } ?? false
        if !copied {
            guard SignatureOperation.configure(mdContext, key: self.pkey, algorithm: algorithm, forSigning: false) else {
                return false
            }
        }
        return withNonNullBase(message) { messagePointer in
            encoded.withUnsafeBufferPointer { sig in
                EVP_DigestVerify(mdContext, sig.baseAddress, sig.count, messagePointer, message.count) == 1
            }
        }
    }

    /// Whether `signature` is a valid signature of `message` under this key with `algorithm`.
    public func verify(signature: [UInt8], message: some Collection<UInt8>, algorithm: SignatureAlgorithm) -> Bool {
        withContiguousBytes(message) { self.verify(signature: signature, message: $0, algorithm: algorithm) }
    }
}

/// Sets up an `EVP_MD_CTX` for signing or verifying with one algorithm; shared by both key types.
enum SignatureOperation {
    static func configure(_ mdContext: OpaquePointer, key: OpaquePointer, algorithm: SignatureAlgorithm, forSigning: Bool) -> Bool {
        let md: OpaquePointer?
        switch algorithm {
        case .rsaPKCS1v15(let digest), .rsaPSS(let digest), .ecdsa(let digest):
            md = digest.fetched.md
        case .ed25519:
            md = nil  // Ed25519 hashes internally; OpenSSL requires a NULL digest.
        }
        var keyContext: OpaquePointer? = nil
        let initialized = forSigning
            ? EVP_DigestSignInit(mdContext, &keyContext, md, nil, key)
            : EVP_DigestVerifyInit(mdContext, &keyContext, md, nil, key)
        guard initialized == 1, let keyContext else { return false }
        switch algorithm {
        case .rsaPKCS1v15:
            return EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PADDING) == 1
        case .rsaPSS:
            // RFC 7518 3.5: MGF1 with the signature digest (OpenSSL's default) and a salt as long
            // as the digest output, both when signing and when verifying.
            return EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1
                && EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, RSA_PSS_SALTLEN_DIGEST) == 1
        case .ecdsa, .ed25519:
            return true
        }
    }
}

extension KeyKind {
    /// The algorithms a key of this kind may verify (the ones worth a prepared context).
    var verifyAlgorithms: [SignatureAlgorithm] {
        switch self {
        case .rsa:
            return [DigestAlgorithm.sha256, .sha384, .sha512].flatMap { [SignatureAlgorithm.rsaPKCS1v15($0), .rsaPSS($0)] }
        case .ec(let curve):
            return [.ecdsa(curve.joseDigest)]
        case .ed25519:
            return [.ed25519]
        }
    }

    /// Classifies `pkey`, refusing key types, curves and sizes Portcullis does not accept.
    init(validating pkey: OpaquePointer) throws {
        switch EVP_PKEY_get_base_id(pkey) {
        case EVP_PKEY_RSA, EVP_PKEY_RSA_PSS:
            let bits = Int(EVP_PKEY_get_bits(pkey))
            guard bits >= 2048 else { throw KeyError.rsaModulusTooSmall(bits: bits) }
            self = .rsa(bits: bits)
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 80)
            var length = 0
            guard EVP_PKEY_get_utf8_string_param(pkey, "group", &name, name.count, &length) == 1 else {
                throw KeyError.unsupportedKey("EC key without a named curve")
            }
            let groupName = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            var nid = OBJ_sn2nid(groupName)
            if nid == NID_undef { nid = EC_curve_nist2nid(groupName) }
            guard let curve = ECCurve(nid: nid) else {
                throw KeyError.unsupportedKey("EC curve \(groupName) (P-256, P-384 and P-521 are supported)")
            }
            self = .ec(curve)
        case EVP_PKEY_ED25519:
            self = .ed25519
        default:
            throw KeyError.unsupportedKey("key type \(EVP_PKEY_get_base_id(pkey)) (RSA, EC and Ed25519 are supported)")
        }
    }
}

/// Runs `body` with a non-null pointer to the bytes of `buffer`: OpenSSL's one-shot sign and verify
/// calls treat a NULL message pointer as an error even when the length is zero.
func withNonNullBase<R>(_ buffer: UnsafeRawBufferPointer, _ body: (UnsafePointer<UInt8>) -> R) -> R {
    if let base = buffer.baseAddress {
        return body(base.assumingMemoryBound(to: UInt8.self))
    }
    var placeholder: UInt8 = 0
    return withUnsafePointer(to: &placeholder) { body($0) }
}

/// Runs `body` with a read-only memory BIO over the UTF-8 bytes of `text`.
func withMemoryBIO<R>(_ text: String, _ body: (OpaquePointer) throws -> R) throws -> R {
    var text = text
    return try text.withUTF8 { utf8 in
        guard let bio = BIO_new_mem_buf(utf8.baseAddress, Int32(utf8.count)) else {
            throw KeyError.openSSL(OpenSSLError.drain("creating a memory BIO"))
        }
        defer { BIO_free(bio) }
        return try body(bio)
    }
}
