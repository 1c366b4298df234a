internal import COpenSSL

/// A private key for signing (tokens minted by the CLI, tests), owning one `EVP_PKEY`.
///
/// `@unchecked Sendable`: immutable after `init`; each `sign` uses its own `EVP_MD_CTX`.
public final class PrivateKey: @unchecked Sendable {
    let pkey: OpaquePointer
    public let kind: KeyKind
    /// The public half, derived once.
    public let publicKey: PublicKey

    /// A PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`) or the traditional RSA/EC forms.
    /// Encrypted keys are refused rather than prompting for a passphrase on the terminal.
    public init(pem: String) throws {
        OpenSSLError.clearQueue()
        let key = try withMemoryBIO(pem) { bio in
            PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        }
        guard let key else {
            throw KeyError.invalidEncoding(
                "not an unencrypted PEM private key: \(OpenSSLError.drain("reading a PEM private key"))")
        }
        do {
            self.kind = try KeyKind(validating: key)
            let length = i2d_PUBKEY(key, nil)
            guard length > 0 else { throw KeyError.openSSL(OpenSSLError.drain("encoding the public key")) }
            let der = [UInt8](unsafeUninitializedCapacity: Int(length)) { buffer, count in
                var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
                count = Int(i2d_PUBKEY(key, &cursor))
            }
            self.publicKey = try PublicKey(der: der)
        } catch {
            EVP_PKEY_free(key)
            throw error
        }
        self.pkey = key
    }

    deinit {
        EVP_PKEY_free(self.pkey)
    }

    /// Signs `message`. ECDSA signatures are returned in JOSE's raw `r || s` form.
    public func sign(message: UnsafeRawBufferPointer, algorithm: SignatureAlgorithm) throws -> [UInt8] {
        guard self.kind.fits(algorithm) else {
            throw KeyError.unsupportedKey("a \(self.kind) key cannot sign with \(algorithm)")
        }
        guard let mdContext = EVP_MD_CTX_new() else {
            throw KeyError.openSSL(OpenSSLError.drain("creating a digest context"))
        }
        defer { EVP_MD_CTX_free(mdContext) }
        OpenSSLError.clearQueue()
        guard SignatureOperation.configure(mdContext, key: self.pkey, algorithm: algorithm, forSigning: true) else {
            throw KeyError.openSSL(OpenSSLError.drain("setting up \(algorithm) signing"))
        }
        let signature: [UInt8] = try withNonNullBase(message) { messagePointer in
            var length = 0
            guard EVP_DigestSign(mdContext, nil, &length, messagePointer, message.count) == 1 else {
                return nil
            }
            var output = [UInt8](repeating: 0, count: length)
            guard EVP_DigestSign(mdContext, &output, &length, messagePointer, message.count) == 1 else {
                return nil
            }
            return Array(output.prefix(length))
        } ?? { throw KeyError.openSSL(OpenSSLError.drain("signing with \(algorithm)")) }()
        if case .ec(let curve) = self.kind {
            return try ECDSASignatureEncoding.raw(fromDER: signature, curve: curve)
        }
        return signature
    }

    /// Signs `message`. ECDSA signatures are returned in JOSE's raw `r || s` form.
    public func sign(message: some Collection<UInt8>, algorithm: SignatureAlgorithm) throws -> [UInt8] {
        try withContiguousBytes(message) { try self.sign(message: $0, algorithm: algorithm) }
    }
}
