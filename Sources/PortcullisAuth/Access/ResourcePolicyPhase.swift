public import PortcullisCore
public import PortcullisPolicy

/// The resource-policy phase: after the authorizers, the API's resource policy and the identity
/// policies of SigV4 principals decide together, by the authorizer kind that established the
/// identity (API Gateway's rules, shared/AWS_SEMANTICS.md §5.4):
/// - no identity (an open route, ip rules only): the resource policy must allow explicitly;
/// - JWT / Cognito: authenticated first, then the resource policy alone must allow;
/// - IAM (SigV4): identity policies and resource policy combined, Table A in the API's account,
///   Table B across accounts. Without `policies_dir` a verified key counts as allowed on the
///   identity side; without a resource policy the identity side decides alone.
/// A denial is ACCESS_DENIED 403 naming the principal, the action and the method ARN.
/// A class, so that the route's phase list holds one reference.
public final class ResourcePolicyPhase: Sendable {
    public let resource: PolicyDocument?
    /// `resource` as the one-element list the evaluator takes, made once (an array literal per
    /// request would allocate).
    let resourceList: [PolicyDocument]
    /// `resource` specialised for callers without an IAM principal on this route's API (when the
    /// API is known): what most requests ask, answered without writing out the method ARN.
    let anonymous: AnonymousInvoke?
    /// The API `anonymous` was made for: a request of another API (a test, a reused phase) takes
    /// the general path.
    let api: AuthRequest.APIRef?
    /// The SigV4 authorizers of the route that have identity policies, by name.
    let identityPolicies: [(authorizer: String, policies: IdentityPolicies)]
    let clock: JWTClock

    public static let action = "execute-api:Invoke"

    public init(
        resource: PolicyDocument?, identityPolicies: [(authorizer: String, policies: IdentityPolicies)], api: AuthRequest.APIRef? = nil,
        clock: JWTClock = .system
    ) {
        self.resource = resource
        resourceList = resource.map { [$0] } ?? []
        anonymous = api.flatMap { api in resource.map { AnonymousInvoke($0, arnPrefix: api.arnPrefix, action: Self.action) } }
        self.api = api
        self.identityPolicies = identityPolicies
        self.clock = clock
    }

    /// The phase a route needs, if any: nil when there is neither a resource policy nor an
    /// authorizer with identity policies among the route's steps.
    public static func forRoute(
        resource: PolicyDocument?, steps: [AuthRequirement], api: AuthRequest.APIRef? = nil, clock: JWTClock = .system
    ) -> ResourcePolicyPhase? {
        var iam: [(String, IdentityPolicies)] = []
        for req in steps {
            let list: [AuthStep]
            switch req {
            case .step(let s): list = [s]
            case .anyOf(let s): list = s
            }
            for case .sigv4(let s) in list {
                if let p = s.identityPolicies, !iam.contains(where: { $0.0 == s.name }) { iam.append((s.name, p)) }
            }
        }
        if resource == nil && iam.isEmpty { return nil }
        return ResourcePolicyPhase(resource: resource, identityPolicies: iam, api: api, clock: clock)
    }

    public func admit(_ request: AuthRequest, identity: Identity?) -> PhaseOutcome {
        // An external authorizer already combined its policy with this resource policy (Table A,
        // `External/ExternalAuthorizer+Decide.swift`): it has the answer's policy, this phase has not.
        if identity?.kind == .external { return .pass }
        guard let identity, identity.kind == .iam else {
            // Not an IAM principal: anonymous to policies, and the resource policy must allow.
            guard resource != nil else { return .pass }
            let d: PolicyDecision
            if let anonymous, api === request.api {
                if let constant = anonymous.constant {
                    // Every statement names all of the API's methods, none has a condition.
                    d = constant.decision
                } else if anonymous.hasConditions {
                    let context = RequestConditions(request: request, identity: identity, clock: clock)
                    d = request.withMethodARNSuffix((anonymous, context)) { ac, method, path in
                        ac.0.explain(method: method, path: path, context: ac.1).decision
                    }
                } else {
                    // No statement has a condition: the request's values are not gathered.
                    d = request.withMethodARNSuffix(anonymous) { anonymous, method, path in
                        anonymous.explain(method: method, path: path, context: NoConditions()).decision
                    }
                }
            } else {
                let context = RequestConditions(request: request, identity: identity, clock: clock)
                d = PolicyEvaluator.evaluate(resourceList, PolicyRequest(principal: nil, action: Self.action, resource: request.methodARN, context: context))
            }
            if case .allowed = d { return .pass }
            return outcome(d, principal: nil, arn: request.methodARN, side: "resource policy")
        }
        let context = RequestConditions(request: request, identity: identity, clock: clock)
        let arn = request.methodARN
        let principal = identity.principal
        let asked = PolicyRequest(principal: principal, action: Self.action, resource: arn, context: context)
        var side = "identity policies"
        var decision: PolicyDecision = .allowed(sid: nil)
        if let set = identityPolicies.first(where: { $0.authorizer == identity.authorizer })?.policies {
            decision = PolicyEvaluator.evaluate(set.policies(forAccessKey: identity.claims["accessKey"] ?? ""), asked)
        }
        if resource != nil {
            let r = PolicyEvaluator.evaluate(resourceList, asked)
            let same = identity.claims["accountId"] == request.api.account
            let combined = PolicyEvaluator.combine(identity: decision, resource: r, sameAccount: same)
            side = Self.which(combined, identity: decision, resource: r, sameAccount: same)
            decision = combined
        }
        return outcome(decision, principal: principal, arn: arn, side: side)
    }

    /// Names the side that decided, for the log.
    static func which(_ combined: PolicyDecision, identity: PolicyDecision, resource: PolicyDecision, sameAccount: Bool) -> String {
        if case .explicitlyDenied = resource { return "resource policy" }
        if case .explicitlyDenied = identity { return "identity policies" }
        if case .allowed = combined { if case .allowed = identity { return "identity policies" } else { return "resource policy" } }
        return sameAccount ? "identity and resource policies" : "identity and resource policies (cross-account: both must allow)"
    }

    func outcome(_ d: PolicyDecision, principal: String?, arn: String, side: String) -> PhaseOutcome {
        let explicit: Bool
        let sid: String?
        switch d {
        case .allowed: return .pass
        case .explicitlyDenied(let s): (explicit, sid) = (true, s)
        case .implicitlyDenied: (explicit, sid) = (false, nil)
        }
        let who = principal ?? "anonymous"
        let message = "User: \(who) is not authorized to perform: \(Self.action) on resource: \(arn)" + (explicit ? " with an explicit deny" : "")
        let reason = explicit
            ? "\(side) denied explicitly" + (sid.map { " (statement \($0))" } ?? "")
            : "no statement of the \(side) allows"
        return .refuse(Refusal(.ACCESS_DENIED, message: message, reason: reason))
    }
}

/// The identity policies of one SigV4 authorizer, resolved per access key when the config
/// loads (user or role, plus groups), so a request does one dictionary lookup.
public final class IdentityPolicies: Sendable {
    let byAccessKey: [String: [PolicyDocument]]

    public init(byAccessKey: [String: [PolicyDocument]]) {
        self.byAccessKey = byAccessKey
    }

    public func policies(forAccessKey key: String) -> [PolicyDocument] { byAccessKey[key] ?? [] }
}
