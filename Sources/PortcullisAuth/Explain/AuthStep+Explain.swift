public import NIOCore
public import PortcullisCore
import PortcullisConfig
import PortcullisHTTPClient

// `portcullis explain` only (docs/ARCHITECTURE.md, "Explaining a decision"): nothing in this file
// runs while the server admits a request.

extension AuthStep {
    /// The kind as the config names it.
    public var kindName: String {
        switch self {
        case .ip: return "ip"
        case .jwt: return "jwt"
        case .sigv4: return "sigv4"
        case .external(let s): return s.authorizer.kind.rawValue
        }
    }

    /// With the network off: the URL this step would call before it could decide `request`, or
    /// nil with the decision it made without one. `remoteKeySets` names the JWT authorizers whose
    /// key set is remote (compiled offline, so never fetched) and where it lives. The step itself
    /// runs to find out: an external authorizer that must call answers later; a JWT authorizer
    /// reaches its key set only for a token that parses and passes the algorithm policy.
    public func offlineProbe(
        _ request: AuthRequest, remoteKeySets: [String: String], on loop: any EventLoop
    ) -> (wouldCall: String?, decision: AuthDecision?) {
        if case .jwt(let s) = self, let location = remoteKeySets[s.authorizer.name], let token = s.authorizer.identitySource.token(in: request.head),
            case .now(.failure(.keysUnavailable)) = s.authorizer.verify(token, now: s.authorizer.clock.now(), on: loop)
        {
            return ("the key set at \(location)", nil)
        }
        switch evaluate(request, on: loop) {
        case .now(let d): return (nil, d)
        case .later:
            if case .external(let s) = self { return ("\(s.authorizer.kind.rawValue) authorizer \(s.authorizer.url?.description ?? "?")", nil) }
            return ("\(name)", nil)
        }
    }

    /// Why the step allowed: its rule or the identity it established.
    public func explainAllow(_ request: AuthRequest, identity: Identity?) -> String {
        if case .ip(let rule) = self { return rule.explainAllow(request) }
        return identity?.explained ?? "allowed"
    }
}

extension AuthRequirement {
    /// The steps of this entry, in order.
    public var steps: [AuthStep] {
        switch self {
        case .step(let s): return [s]
        case .anyOf(let list): return list
        }
    }

    /// `authorizer NAME (kind)` or `any_of [a, b]`.
    public var title: String {
        switch self {
        case .step(let s): return "authorizer \(s.name) (\(s.kindName))"
        case .anyOf(let list): return "any_of [\(list.map(\.name).joined(separator: ", "))]"
        }
    }

    /// With the network off: what the first step that would have to call (before any step
    /// allows) would call, or nil when this entry decides offline.
    public func offlineCall(_ request: AuthRequest, remoteKeySets: [String: String], on loop: any EventLoop) -> String? {
        for s in steps {
            let (url, decision) = s.offlineProbe(request, remoteKeySets: remoteKeySets, on: loop)
            if let url { return "\(s.name) would call \(url)" }
            if case .allow? = decision { return nil }
        }
        return nil
    }

    /// Why the entry allowed: the step whose identity stands (inside `any_of`, the first that
    /// allowed), and that identity.
    public func explainAllow(_ request: AuthRequest, identity: Identity?) -> String {
        switch self {
        case .step(let s): return s.explainAllow(request, identity: identity)
        case .anyOf(let list):
            if let id = identity, let s = list.first(where: { $0.name == id.authorizer }) {
                return "\(s.name) allowed: " + s.explainAllow(request, identity: id)
            }
            if let ip = list.first(where: { if case .ip = $0 { return true } else { return false } }) {
                return "\(ip.name) allowed: " + ip.explainAllow(request, identity: nil)
            }
            return "allowed"
        }
    }
}

extension AuthRequirement {
    /// Why the entry refused: the refusal's reason, and inside `any_of` what each alternative
    /// said (the answer is the first real refusal, else the first abstention). External
    /// authorizers are not asked again: their answer is the refusal's reason.
    public func explainRefusal(_ refusal: Refusal, _ request: AuthRequest, on loop: any EventLoop) -> String {
        guard case .anyOf(let list) = self else { return refusal.reason }
        let said = list.map { s -> String in
            if case .external = s { return "\(s.name) was asked" }
            switch s.evaluate(request, on: loop) {
            case .now(.abstain(let r)): return "\(s.name) abstained (\(r.reason))"
            case .now(.refuse(let r)): return "\(s.name) refused (\(r.reason))"
            case .now(.allow): return "\(s.name) allowed"
            case .later: return "\(s.name) waits for its key set"
            }
        }
        return said.joined(separator: "; ")
    }
}

extension IPRule {
    /// Which block let the client in.
    func explainAllow(_ request: AuthRequest) -> String {
        guard let ip = request.clientIP else { return "allowed" }
        if let block = allow.first(where: { $0.contains(ip) }) { return "ip \(ip) matched allow \(block)" }
        return "ip \(ip) is in no deny block" + (deny.isEmpty ? "" : " (\(deny.map(\.description).joined(separator: ", ")))")
    }
}

extension Identity {
    /// `principal P (jwt lab-token) sub=..., role=...`: who the phases now see.
    public var explained: String {
        var parts = ["principal \(principal.isEmpty ? "\"\"" : principal) (\(kindName) \(authorizer))"]
        let shown = claims.filter { $0.key != "caller" }.sorted { $0.key < $1.key }
        if !shown.isEmpty { parts.append(shown.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")) }
        if let apiKeyID { parts.append("api key \(apiKeyID)" + (usagePlan.map { ", plan \($0)" } ?? "")) }
        return parts.joined(separator: " ")
    }

    var kindName: String {
        switch kind {
        case .jwt: return "jwt"
        case .iam: return "iam"
        case .external: return "external"
        case .apiKey: return "api key"
        }
    }
}
