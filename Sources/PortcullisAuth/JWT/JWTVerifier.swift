public import PortcullisCore

/// Signature and registered-claim checks for one authorizer: pure and synchronous, given the
/// key set and the time. Order matters: the algorithm policy first, then the signature, and only
/// then the claims, so a forged token learns nothing about which claim would have failed.
public struct JWTVerifier: Sendable {
    public let algorithms: Set<JWTAlgorithm>
    public let policy: ClaimPolicy

    public init(algorithms: Set<JWTAlgorithm>, policy: ClaimPolicy) {
        self.algorithms = algorithms
        self.policy = policy
    }

    public enum KeyLookup: Sendable {
        case found([VerificationKey])
        /// The token names a kid the set does not have: a refresh may help.
        case unknownKid(String)
        case noFittingKey(String)
    }

    /// Which keys may verify `jws`, or why none can.
    public func lookup(_ jws: CompactJWS, in keys: JWKSet) -> KeyLookup {
        let alg = jws.header.algorithm
        let candidates = keys.candidates(kid: jws.header.keyID, alg: alg)
        if !candidates.isEmpty { return .found(candidates) }
        if let kid = jws.header.keyID {
            if keys.contains(kid: kid) { return .noFittingKey("Key \(kid) does not fit algorithm \(alg.rawValue)") }
            return .unknownKid(kid)
        }
        return .noFittingKey("No key fits algorithm \(alg.rawValue)")
    }

    /// The algorithm policy alone (checked before any key is looked up).
    public func checkAlgorithm(_ jws: CompactJWS) -> JWTFailure? {
        let alg = jws.header.algorithm
        guard algorithms.contains(alg) else { return .disallowedAlgorithm("Algorithm \(alg.rawValue) not allowed") }
        return nil
    }

    /// Verifies `jws` against `keys` at `now`; the verified claims on success.
    public func verify(_ jws: CompactJWS, keys: JWKSet, now: Double) -> Result<JSONValue, JWTFailure> {
        if let f = checkAlgorithm(jws) { return .failure(f) }
        switch lookup(jws, in: keys) {
        case .unknownKid(let kid): return .failure(.unknownKey("Unknown kid \(kid)"))
        case .noFittingKey(let why): return .failure(.unknownKey(why))
        case .found(let candidates):
            guard candidates.contains(where: { $0.verify(jws) }) else { return .failure(.badSignature("Invalid signature")) }
        }
        if let f = policy.check(jws.claims, now: now) { return .failure(f) }
        return .success(jws.claims)
    }
}

/// A token that passed `JWTVerifier`, with the identity built from it once (cached as a whole).
public struct VerifiedToken: Sendable {
    public let claims: JSONValue
    public let identity: Identity
}
