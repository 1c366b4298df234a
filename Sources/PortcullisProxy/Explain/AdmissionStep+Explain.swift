import NIOCore
import PortcullisAuth
import PortcullisConfig
import PortcullisCore
import PortcullisThrottle

// `portcullis explain` only (docs/ARCHITECTURE.md, "Explaining a decision"): the server never
// calls these. They say what a phase looks at and why it decided; the decision itself always
// comes from the phase's own `admit`.

extension AdmissionStep {
    /// The phase as a person names it.
    var explainTitle: String {
        switch self {
        case .privateEndpoint: return "private endpoint"
        case .authorize(let r): return r.title
        case .resourcePolicy: return "resource policy"
        case .apiKey: return "api key"
        case .throttle: return "throttle"
        case .quota: return "quota"
        }
    }

    /// With the network off, what this phase would call before it could decide; nil when it
    /// decides offline.
    func offlineCall(_ request: AuthRequest, remoteKeySets: [String: String], on loop: any EventLoop) -> String? {
        guard case .authorize(let r) = self else { return nil }
        return r.offlineCall(request, remoteKeySets: remoteKeySets, on: loop)
    }

    /// What the phase will look at, read before it runs: the buckets' tokens, the quota's count.
    func explainBefore(_ request: AuthRequest, identity: Identity?) -> String? {
        switch self {
        case .throttle(let t): return t.explainBuckets(request, identity: identity)
        case .quota(let q): return q.explainCounter(identity: identity)
        default: return nil
        }
    }

    /// Why the phase passed. `before` is what it saw beforehand (`explainBefore`); `identity` is
    /// the identity it saw, `after` the one it left.
    func explainPass(_ request: AuthRequest, identity: Identity?, after: Identity?, before: String?) -> String {
        switch self {
        case .privateEndpoint:
            return "listener \(request.listener.name) is private"
        case .authorize(let r):
            return r.explainAllow(request, identity: after)
        case .resourcePolicy(let p):
            return p.explain(request, identity: identity)
        case .apiKey(let k):
            guard let id = after, let key = id.apiKeyID else { return "key accepted" }
            return "key \(key) from \(k.sourceName), usage plan \(id.usagePlan ?? "?") of \(k.stage)"
        case .throttle, .quota:
            return before ?? "no limit applies"
        }
    }

    /// Why the phase refused: the refusal's own reason (the access log's `error`), with what the
    /// phase saw for limits and policies.
    func explainRefusal(_ refusal: Refusal, _ request: AuthRequest, identity: Identity?, before: String?, on loop: any EventLoop) -> String {
        switch self {
        case .authorize(let r): return r.explainRefusal(refusal, request, on: loop)
        case .resourcePolicy(let p): return p.explain(request, identity: identity)
        case .throttle, .quota: return refusal.reason + (before.map { "; before: \($0)" } ?? "")
        default: return refusal.reason
        }
    }
}

extension ThrottlePhase {
    /// The buckets this request takes from, most specific first, with the tokens each holds now.
    func explainBuckets(_ request: AuthRequest, identity: Identity?) -> String {
        let now = clock()
        var parts: [String] = []
        func show(_ name: String, _ b: TokenBucket) {
            parts.append("\(name) \(b.remaining(now: now))/\(b.burst) tokens at \(Self.rate(b.rate))/s")
        }
        let slot = identity?.apiKeySlot ?? -1
        if slot >= 0, slot < keyBuckets.count, let key = keyBuckets[slot] {
            let plan = identity?.usagePlan ?? "?"
            for (m, b) in key.methods where m == request.head.method { show("plan \(plan) \(m.name)", b) }
            if let b = key.plan { show("plan \(plan) key \(identity?.apiKeyID ?? "?")", b) }
        }
        if let (scope, buckets) = perCaller {
            let who: String?
            switch scope {
            case .clientIP: who = request.clientIP?.description
            case .principal: who = identity?.principal
            case .shared: who = nil
            }
            if let who { show("route per \(scope.rawValue) \(who)", buckets.bucket(for: who, now: now)) }
        }
        for (i, b) in shared.enumerated() { show(i < sharedNames.count ? sharedNames[i] : "bucket \(i + 1)", b) }
        return parts.isEmpty ? "no bucket applies" : parts.joined(separator: ", ")
    }

    static func rate(_ r: Double) -> String {
        r == r.rounded() ? String(Int(r)) : String(r)
    }
}

extension QuotaPhase {
    /// The key's counter in this period, as the state store seeded it and this process counted.
    func explainCounter(identity: Identity?) -> String {
        guard let identity, identity.apiKeySlot >= 0, identity.apiKeySlot < counters.count, let q = counters[identity.apiKeySlot] else {
            return "no quota for this key"
        }
        let now = clock()
        return "key \(identity.apiKeyID ?? "?") used \(q.used(now: now)) of \(q.limit) per \(q.period.rawValue) (\(q.remaining(now: now)) left)"
    }
}
