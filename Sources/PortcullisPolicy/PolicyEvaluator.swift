/// What one request is, for policies: who asks (nil: anonymous), the action, the resource, and
/// where its condition values come from.
public struct PolicyRequest<Context: PolicyContext> {
    public var principal: String?
    public var action: String
    public var resource: String
    public var context: Context

    public init(principal: String?, action: String, resource: String, context: Context) {
        self.principal = principal
        self.action = action
        self.resource = resource
        self.context = context
    }
}

extension PolicyRequest where Context == PolicyKeys {
    /// A request with its condition values given by name (the simulator, tests).
    public init(principal: String?, action: String, resource: String, keys: [String: [String]] = [:]) {
        self.init(principal: principal, action: action, resource: resource, context: PolicyKeys(keys))
    }
}

/// The outcome of a set of policies for one request, with the statement that decided.
public enum PolicyDecision: Sendable, Equatable {
    case allowed(sid: String?)
    case explicitlyDenied(sid: String?)
    case implicitlyDenied
}

public enum PolicyEvaluator {
    /// IAM's rule for one side (identity or resource): an explicit Deny wins, then an Allow; no
    /// matching statement is an implicit deny.
    @inlinable
    public static func evaluate<C>(_ policies: [PolicyDocument], _ r: PolicyRequest<C>) -> PolicyDecision {
        explain(policies, r).decision
    }

    /// The decision with the statement that made it: which policy of the list and which of its
    /// statements (0-based; nil for an implicit deny). The first matching Deny decides, else the
    /// first matching Allow.
    @inlinable
    public static func explain<C>(_ policies: [PolicyDocument], _ r: PolicyRequest<C>) -> (decision: PolicyDecision, at: (policy: Int, statement: Int)?) {
        var allow: (PolicyDecision, (Int, Int))? = nil
        // Indices, not copies: a statement is a struct of arrays, and copying one per request
        // would retain each of them.
        for p in policies.indices {
            for i in policies[p].statements.indices where applies(policies[p].statements[i], r) {
                let s = policies[p].statements[i]
                if s.effect == .Deny { return (.explicitlyDenied(sid: s.sid), (p, i)) }
                if allow == nil { allow = (.allowed(sid: s.sid), (p, i)) }
            }
        }
        return allow.map { ($0.0, $0.1) } ?? (.implicitlyDenied, nil)
    }

    @inlinable
    static func applies<C>(_ s: PolicyStatement, _ r: PolicyRequest<C>) -> Bool {
        if let principals = s.principals {
            let named = principals.contains { $0.matches(r.principal) }
            if named == s.notPrincipal { return false }
        }
        if s.actions.contains(where: { $0.matches(r.action) }) == s.notAction { return false }
        if s.resources.contains(where: { $0.matches(r.resource) }) == s.notResource { return false }
        for c in s.conditions where !c.holds(in: r.context) { return false }
        return true
    }

    /// Identity and resource policy together, as API Gateway combines them: in the same account
    /// either side's Allow suffices unless the other denies explicitly; across accounts both must
    /// allow. Any explicit deny wins.
    public static func combine(identity: PolicyDecision, resource: PolicyDecision, sameAccount: Bool) -> PolicyDecision {
        if case .explicitlyDenied = identity { return identity }
        if case .explicitlyDenied = resource { return resource }
        switch (identity, resource) {
        case (.allowed, .allowed): return identity
        case (.allowed, _): return sameAccount ? identity : .implicitlyDenied
        case (_, .allowed): return sameAccount ? resource : .implicitlyDenied
        default: return .implicitlyDenied
        }
    }
}
