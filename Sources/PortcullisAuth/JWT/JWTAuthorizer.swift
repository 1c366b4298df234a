public import PortcullisConfig
public import Logging
public import NIOCore
public import PortcullisCore

/// The `type: jwt` authorizer: immutable compiled config shared by every loop, plus its key
/// source and verified-token caches (per loop). One request's path:
///
/// 1. read the token from the identity source (none: 401 without further work);
/// 2. the token cache of this loop (hit: only the route checks remain);
/// 3. parse, algorithm policy, key lookup (an unknown kid may refresh a remote set once per
///    cooldown and wait for it), signature, registered claims;
/// 4. cache the verified token, then the route checks: Cognito token kind, scopes, claim rules.
public final class JWTAuthorizer: Sendable {
    public enum Keys: Sendable {
        case fixed(JWKSet)
        case remote(RemoteKeySet)
        /// The key material could not be built (logged at compile); every token gets a 500.
        case unusable(String)
    }

    public let name: String
    public let keys: Keys
    public let identitySource: JWTAuthorizerConfig.IdentitySource
    public let verifier: JWTVerifier
    /// Route without scopes takes ID tokens, with scopes access tokens (API Gateway's Cognito rule).
    public let cognito: Bool
    let principalClaim: String
    let forwardClaims: [(header: String, claim: String)]
    let claimRules: [ClaimRule]
    let cacheTTL: Double
    let caches: TokenCaches?
    let clock: JWTClock
    let logger: Logger

    public init(
        name: String, keys: Keys, identitySource: JWTAuthorizerConfig.IdentitySource, verifier: JWTVerifier, cognito: Bool,
        principalClaim: String, forwardClaims: [(header: String, claim: String)], claimRules: [ClaimRule],
        cacheTTL: Double, caches: TokenCaches?, clock: JWTClock, logger: Logger
    ) {
        self.name = name
        self.keys = keys
        self.identitySource = identitySource
        self.verifier = verifier
        self.cognito = cognito
        self.principalClaim = principalClaim
        self.forwardClaims = forwardClaims
        self.claimRules = claimRules
        self.cacheTTL = cacheTTL
        self.caches = caches
        self.clock = clock
        self.logger = logger
    }

    /// False until a remote key set has loaded once (for readiness reporting).
    public var isReady: Bool {
        switch keys {
        case .fixed: return true
        case .remote(let r): return r.current != nil
        case .unusable: return false
        }
    }

    // MARK: Per request

    public func evaluate(_ request: AuthRequest, route: RouteAuthPolicy, on loop: any EventLoop) -> AuthResult {
        let now = clock.now()
        // A token sent again (the common case): looked up where it lies in the head, no String made.
        var probed = false
        if let caches, case .header(let name) = identitySource,
            let hit = request.head.headers.withFirstValue(named: name, { v -> VerifiedToken? in
                guard let range = JWTAuthorizerConfig.IdentitySource.bearerToken(in: v) else { return nil }
                probed = true
                return TokenCache.Key.probe(UnsafeRawBufferPointer(rebasing: v[range])) { key in caches.with(loop) { $0.lookup(key, now: now) } }
            }) ?? nil
        {
            return .now(authorize(hit, route, request))
        }
        guard let token = identitySource.token(in: request.head) else {
            // Not this authorizer's request: inside any_of the next alternative gets its turn.
            return .now(.abstain(refusal(.missing("No token in \(identitySource)"), request)))
        }
        // Hashed once more as an owned key: the lookup of a query or cookie token, and for a new
        // token its insertion and the eviction it causes.
        let key = caches.map { _ in TokenCache.Key(token) }
        if !probed, let caches, let key, let hit = caches.with(loop, { $0.lookup(key, now: now) }) {
            return .now(authorize(hit, route, request))
        }
        return verify(token, now: now, on: loop).map { self.conclude($0, key, route, request, loop) }
    }

    public typealias Outcome = Eventually<Result<VerifiedToken, JWTFailure>>

    /// Everything but the route checks and the cache: also what `portcullis token inspect` runs.
    public func verify(_ token: String, now: Double, on loop: any EventLoop) -> Outcome {
        let jws: CompactJWS
        switch CompactJWS.parse(token) {
        case .success(let j): jws = j
        case .failure(let f): return .now(.failure(f))
        }
        if let f = verifier.checkAlgorithm(jws) { return .now(.failure(f)) }
        switch keys {
        case .unusable(let why):
            return .now(.failure(.keysUnavailable(why)))
        case .fixed(let set):
            return .now(verifier.verify(jws, keys: set, now: now).map(makeVerified))
        case .remote(let source):
            if let set = source.current {
                guard case .unknownKid(let kid) = verifier.lookup(jws, in: set) else {
                    return .now(verifier.verify(jws, keys: set, now: now).map(makeVerified))
                }
                // A kid we have not seen: maybe the issuer rotated. Refresh (single flight,
                // cooldown) and retry once with what comes back.
                guard let refreshed = source.refresh(.unknownKid, on: loop) else {
                    return .now(.failure(.unknownKey("Unknown kid \(kid) (key set refresh cooling down)")))
                }
                return .later(refreshed.map { set in
                    guard let set else { return .failure(.keysUnavailable("No key set from \(source.location)")) }
                    return self.verifier.verify(jws, keys: set, now: self.clock.now()).map(self.makeVerified)
                })
            }
            guard let first = source.refresh(.unknownKid, on: loop) else {
                return .now(.failure(.keysUnavailable("Key set from \(source.location) not loaded yet")))
            }
            return .later(first.map { set in
                guard let set else { return .failure(.keysUnavailable("Key set from \(source.location) could not be loaded")) }
                return self.verifier.verify(jws, keys: set, now: self.clock.now()).map(self.makeVerified)
            })
        }
    }

    /// Runs on `loop`: caches a verified token, then applies the route's checks.
    private func conclude(
        _ result: Result<VerifiedToken, JWTFailure>, _ key: TokenCache.Key?, _ route: RouteAuthPolicy, _ request: AuthRequest,
        _ loop: any EventLoop
    ) -> AuthDecision {
        switch result {
        case .failure(let f):
            return refuse(f, request)
        case .success(let verified):
            if let caches, let key, cacheTTL > 0 {
                let now = clock.now()
                let expires = min(now + cacheTTL, verifier.policy.expiry(of: verified.claims) ?? .infinity)
                if expires > now { caches.with(loop) { $0.insert(key, verified, expires: expires) } }
            }
            return authorize(verified, route, request)
        }
    }

    /// The checks that depend on the route, run on cached and fresh tokens alike.
    func authorize(_ v: VerifiedToken, _ route: RouteAuthPolicy, _ request: AuthRequest) -> AuthDecision {
        if cognito {
            let use = v.claims["token_use"]?.stringValue
            if route.scopes.isEmpty && use != "id" {
                return refuse(.invalidClaim("Expected an ID token (route has no scopes)"), request)
            }
            if !route.scopes.isEmpty && use != "access" {
                return refuse(.invalidClaim("Expected an access token (route has scopes)"), request)
            }
        }
        if !route.scopes.isEmpty && !Scopes.satisfies(v.claims, route.scopes) {
            return refuse(.insufficientScope("Token has none of the scopes \(route.scopes.joined(separator: " "))"), request)
        }
        for rule in claimRules where !rule.matches(v.claims) {
            return refuse(.forbidden("Claim rule failed: \(rule.text)"), request)
        }
        for rule in route.claims where !rule.matches(v.claims) {
            return refuse(.forbidden("Claim rule failed: \(rule.text)"), request)
        }
        return .allow(v.identity)
    }

    private func refuse(_ f: JWTFailure, _ request: AuthRequest) -> AuthDecision {
        .refuse(refusal(f, request))
    }

    private func refusal(_ f: JWTFailure, _ request: AuthRequest) -> Refusal {
        logger.debug("jwt refused", metadata: ["authorizer": "\(name)", "request_id": "\(request.requestID)", "reason": "\(f.reason)"])
        return f.refusal
    }

    /// The identity of a verified token, built once (then cached with it).
    func makeVerified(_ claims: JSONValue) -> VerifiedToken {
        var map: [String: String] = [:]
        var lists: [String: [String]] = [:]
        for (k, v) in claims.objectValue ?? [:] {
            if let t = v.claimText { map[k] = t }
            if let a = v.arrayValue { lists[k] = a.compactMap(\.claimText) }
        }
        var headers: [(String, String)] = []
        for (header, claim) in forwardClaims {
            // Verified claims are still text from outside: never let one break a header line.
            if let v = map[claim], v.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) { headers.append((header, v)) }
        }
        let identity = Identity(
            principal: map[principalClaim] ?? "", authorizer: name, kind: .jwt, claims: map, listClaims: lists, upstreamHeaders: headers)
        return VerifiedToken(claims: claims, identity: identity)
    }
}

/// The compiled step of one route: the shared authorizer and the route's policy.
public struct JWTStep: Sendable {
    public let authorizer: JWTAuthorizer
    public let route: RouteAuthPolicy

    public init(authorizer: JWTAuthorizer, route: RouteAuthPolicy = .none) {
        self.authorizer = authorizer
        self.route = route
    }

    public func evaluate(_ request: AuthRequest, on loop: any EventLoop) -> AuthResult {
        authorizer.evaluate(request, route: route, on: loop)
    }
}
