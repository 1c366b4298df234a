public import PortcullisTLS

/// One key a token may be verified with: a public key (from a JWKS or PEM) or the configured
/// HMAC secret. Built once when the config or key set loads (OpenSSL objects included).
public struct VerificationKey: Sendable {
    public enum Material: Sendable {
        case publicKey(PublicKey)
        /// One prepared HMAC key per allowed digest.
        case secret([HMACKey])
    }

    public let keyID: String?
    /// The JWK `alg`, when the key names the one algorithm it is for.
    public let algorithm: JWTAlgorithm?
    public let material: Material

    public init(keyID: String?, algorithm: JWTAlgorithm?, material: Material) {
        self.keyID = keyID
        self.algorithm = algorithm
        self.material = material
    }

    /// A key for `alg`? The key type must match the algorithm's family (an RSA key never serves
    /// as an HMAC secret), an EC key's curve must match ES256/384/512, and a JWK `alg` must be equal.
    public func fits(_ alg: JWTAlgorithm) -> Bool {
        if let a = algorithm, a != alg { return false }
        switch material {
        case .secret(let keys):
            guard let d = alg.hmacDigest else { return false }
            return keys.contains { $0.algorithm == d }
        case .publicKey(let key):
            guard let s = alg.signature else { return false }
            switch (key.kind, s) {
            case (.rsa, .rsaPKCS1v15), (.rsa, .rsaPSS), (.ed25519, .ed25519): return true
            case (.ec(let curve), .ecdsa(let digest)): return curve.joseDigest == digest
            default: return false
            }
        }
    }

    /// Checks the signature. `fits(alg)` must hold (the verifier checks it first).
    public func verify(_ jws: CompactJWS) -> Bool {
        let alg = jws.header.algorithm
        switch material {
        case .secret(let keys):
            guard let d = alg.hmacDigest, let k = keys.first(where: { $0.algorithm == d }) else { return false }
            guard jws.signature.count == d.outputSize else { return false }
            return k.isValidSignature(jws.signature, for: jws.signingInput)
        case .publicKey(let key):
            guard let s = alg.signature else { return false }
            return key.verify(signature: jws.signature, message: jws.signingInput, algorithm: s)
        }
    }

    /// The HMAC key of a configured secret, prepared for every HMAC algorithm in `algorithms`.
    public static func secret(_ bytes: [UInt8], algorithms: [JWTAlgorithm]) -> VerificationKey {
        let digests = Set(algorithms.compactMap(\.hmacDigest))
        let keys = DigestAlgorithm.allCases.filter { digests.contains($0) }.map { HMACKey(algorithm: $0, key: bytes) }
        return VerificationKey(keyID: nil, algorithm: nil, material: .secret(keys))
    }
}

/// The keys of one source, immutable: a new set replaces the old one whole.
public struct JWKSet: Sendable {
    public let keys: [VerificationKey]
    /// Keys of the document that were left out, and why (logged when the set loads).
    public let skipped: [String]

    public init(keys: [VerificationKey], skipped: [String] = []) {
        self.keys = keys
        self.skipped = skipped
    }

    public var keyIDs: [String] { keys.compactMap(\.keyID) }

    /// Keys that may verify a token naming `kid` (or none) with `alg`. A token with a kid
    /// matches keys with that kid and keys without one (a PEM key, the secret); a token without
    /// a kid is tried against every fitting key.
    public func candidates(kid: String?, alg: JWTAlgorithm) -> [VerificationKey] {
        if let kid { return keys.filter { ($0.keyID == nil || $0.keyID == kid) && $0.fits(alg) } }
        return keys.filter { $0.fits(alg) }
    }

    public func contains(kid: String) -> Bool { keys.contains { $0.keyID == kid } }
}
