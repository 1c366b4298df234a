public import NIOCore
public import PortcullisConfig
public import PortcullisCore

/// The `type: sigv4` authorizer as a route runs it: the request's wire path, query, headers and
/// body hash go to the shared verifier; a verified key becomes the identity (its principal ARN,
/// account and access key, as `$context.identity` names them). A request without a signature
/// abstains, so `any_of` can try another authorizer; alone it answers Missing Authentication Token.
public struct SigV4Step: Sendable {
    public let name: String
    public let verifier: SigV4Verifier
    /// The principals' identity policies (`policies_dir`), evaluated by the resource-policy
    /// phase; nil when the authorizer has none (every verified key may invoke).
    public let identityPolicies: IdentityPolicies?
    let clock: JWTClock
    /// The identity of each access key, made once (not per request).
    let identities: [String: Identity]
    let recent: VerifiedRequests

    public init(
        name: String, verifier: SigV4Verifier, identityPolicies: IdentityPolicies? = nil, clock: JWTClock = .system,
        group: (any EventLoopGroup)? = nil
    ) {
        self.name = name
        self.verifier = verifier
        self.identityPolicies = identityPolicies
        self.clock = clock
        var ids: [String: Identity] = [:]
        for key in verifier.credentials.values { ids[key.accessKeyID] = Self.identity(key, authorizer: name) }
        identities = ids
        recent = VerifiedRequests(group: group)
    }

    static func identity(_ key: SigV4Credential, authorizer: String) -> Identity {
        Identity(
            principal: key.principalARN, authorizer: authorizer, kind: .iam,
            claims: ["accountId": key.accountID, "userArn": key.principalARN, "accessKey": key.accessKeyID, "caller": key.accessKeyID],
            consumedHeaders: ["authorization", "x-amz-security-token"])
    }

    public static func compile(
        name: String, _ c: SigV4AuthorizerConfig, group: (any EventLoopGroup)? = nil, clock: JWTClock = .system
    ) -> SigV4Step {
        let keys = c.keys.map {
            SigV4Credential(
                accessKeyID: $0.accessKeyID, secret: $0.secret, principalARN: $0.principal, active: $0.active,
                sessionToken: $0.sessionToken, expires: $0.expires)
        }
        let (seconds, _) = c.maxSkew.components
        let policies = c.policies.map { set in
            IdentityPolicies(
                byAccessKey: Dictionary(
                    c.keys.map { ($0.accessKeyID, set.policies(principal: $0.principal, groups: $0.groups)) }, uniquingKeysWith: { a, _ in a }))
        }
        return SigV4Step(
            name: name, verifier: SigV4Verifier(credentials: keys, maxSkewSeconds: seconds, group: group), identityPolicies: policies, clock: clock,
            group: group)
    }

    public func decide(_ request: AuthRequest, on loop: (any EventLoop)? = nil) -> AuthDecision {
        let h = request.head
        let now = Int64(clock.now())
        let hasBody = h.framing != .none
        let payloadHash = request.payloadHash ?? (hasBody ? "" : SigV4.emptyPayloadHash)
        let cacheKey = VerifiedRequests.key(h, region: request.api.region, payloadHash: payloadHash).map(VerifiedRequests.Key.init)
        if let cacheKey, let identity = recent.lookup(cacheKey, now: now, on: loop) { return .allow(identity) }

        // Read where it lies: no String per header, no copy of the target.
        let (verdict, window) = verifier.verifyWithWindow(head: h, payloadHash: payloadHash, region: request.api.region, now: now, on: loop)
        switch verdict {
        case .absent(let r):
            return .abstain(r)
        case .refused(let r):
            return .refuse(r)
        case .verified(let key):
            let identity = identities[key.accessKeyID] ?? Self.identity(key, authorizer: name)
            if let cacheKey, let window { recent.remember(cacheKey, identity, window: window, on: loop) }
            return .allow(identity)
        }
    }
}
