public import PortcullisCore
public import PortcullisPolicy

// `portcullis explain` only: nothing here runs while the server admits a request.

extension ResourcePolicyPhase {
    /// Which statement of which side decided, by the same rules as `admit`. The general evaluator
    /// answers here; it and the phase's specialised one agree (a property test holds them together).
    public func explain(_ request: AuthRequest, identity: Identity?) -> String {
        if let identity, identity.kind == .external {
            return "\(identity.authorizer) already combined its answer's policy with the resource policy"
        }
        let context = RequestConditions(request: request, identity: identity, clock: clock)
        let arn = request.methodARN
        guard let identity, identity.kind == .iam else {
            guard let resource else { return "no resource policy" }
            let r = PolicyEvaluator.explain(resourceList, PolicyRequest(principal: nil, action: Self.action, resource: arn, context: context))
            return "caller anonymous: resource policy \(Self.describe(r, [resource])) \(Self.action) on \(arn)"
        }
        let asked = PolicyRequest(principal: identity.principal, action: Self.action, resource: arn, context: context)
        var parts: [String] = []
        if let set = identityPolicies.first(where: { $0.authorizer == identity.authorizer })?.policies {
            let docs = set.policies(forAccessKey: identity.claims["accessKey"] ?? "")
            parts.append("identity policies (\(docs.count)) " + Self.describe(PolicyEvaluator.explain(docs, asked), docs))
        } else {
            parts.append("no identity policies (a verified key counts as allowed)")
        }
        if let resource {
            parts.append("resource policy " + Self.describe(PolicyEvaluator.explain(resourceList, asked), [resource]))
            let same = identity.claims["accountId"] == request.api.account
            parts.append(same ? "same account: either side may allow" : "cross-account: both must allow")
        }
        return "caller \(identity.principal): " + parts.joined(separator: "; ") + " (\(Self.action) on \(arn))"
    }

    /// `allowed by statement 2 "Sid" (file:line)`, `explicitly denied by ...`, or the implicit deny.
    static func describe(_ r: (decision: PolicyDecision, at: (policy: Int, statement: Int)?), _ docs: [PolicyDocument]) -> String {
        let verb: String
        let sid: String?
        switch r.decision {
        case .allowed(let s): (verb, sid) = ("allowed", s)
        case .explicitlyDenied(let s): (verb, sid) = ("explicitly denied", s)
        case .implicitlyDenied: return "has no statement that allows (implicit deny):"
        }
        guard let at = r.at else { return verb }
        var text = "\(verb) by statement \(at.statement + 1)" + (sid.map { " \"\($0)\"" } ?? "")
        if at.policy < docs.count, let origin = docs[at.policy].origin { text += " (\(origin.location(ofStatement: at.statement)))" }
        return text
    }
}
