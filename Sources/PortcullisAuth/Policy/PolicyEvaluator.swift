/// What one request is, for policies: who asks (nil: anonymous), the action, the resource, and
/// the condition keys with their values (multi-valued where a claim is a list).
public struct PolicyRequest: Sendable {
    public var principal: String?
    public var action: String
    public var resource: String
    /// Condition keys, lower-cased.
    public var keys: [String: [String]]

    public init(principal: String?, action: String, resource: String, keys: [String: [String]] = [:]) {
        self.principal = principal
        self.action = action
        self.resource = resource
        var lowered: [String: [String]] = [:]
        for (k, v) in keys { lowered[k.lowercased()] = v }
        self.keys = lowered
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
    public static func evaluate(_ policies: [PolicyDocument], _ r: PolicyRequest) -> PolicyDecision {
        var allow: PolicyDecision? = nil
        for policy in policies {
            for s in policy.statements where applies(s, r) {
                if s.effect == .Deny { return .explicitlyDenied(sid: s.sid) }
                if allow == nil { allow = .allowed(sid: s.sid) }
            }
        }
        return allow ?? .implicitlyDenied
    }

    static func applies(_ s: PolicyStatement, _ r: PolicyRequest) -> Bool {
        if let principals = s.principals {
            let named = principals.contains { $0.matches(r.principal) }
            if named == s.notPrincipal { return false }
        }
        if s.actions.contains(where: { $0.matches(r.action) }) == s.notAction { return false }
        if s.resources.contains(where: { $0.matches(r.resource) }) == s.notResource { return false }
        for c in s.conditions where !c.holds(r.keys[c.key]) { return false }
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
