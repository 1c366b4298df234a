import PortcullisAuth
import PortcullisConfig
import PortcullisCore
import PortcullisThrottle

/// Admission phase 6: the token buckets that apply to a request, most specific first (API
/// Gateway's order, shared/AWS_SEMANTICS.md §4.3): the key's plan-method bucket, its plan bucket,
/// the route's (shared, per client address or per principal), the stage's, the default. Every one
/// must admit; if one throttles, the tokens the others gave are given back, so a refused request
/// costs nothing. The phase's undo gives them back too when a later phase (quota) refuses.
struct ThrottlePhase: Sendable {
    struct KeyBuckets: Sendable {
        /// Plan-method buckets: one per method the plan names for this route.
        let methods: [(RequestMethod, TokenBucket)]
        let plan: TokenBucket?
    }
    /// By API key id, on routes with `api_key_required`.
    let keyBuckets: [String: KeyBuckets]
    /// The route's bucket per client or principal, if the route's throttle is `per:` one.
    let perCaller: (ThrottleConfig.Scope, KeyedBuckets)?
    /// Route (shared), stage, default: in that order.
    let shared: [TokenBucket]
    let clock: @Sendable () -> UInt64
    /// Add the IETF RateLimit fields to a 429 (`rate_limit_headers: true`).
    var rateLimitHeaders = false

    func admit(_ request: AuthRequest, identity: Identity?) -> PhaseOutcome {
        let now = clock()
        var taken: [TokenBucket] = []
        func take(_ b: TokenBucket) -> Refusal? {
            switch b.take(now: now) {
            case .admitted:
                taken.append(b)
                return nil
            case .throttled(let wait):
                for t in taken { t.giveBack(now: now) }
                let seconds = max(1, (wait + 999_999_999) / 1_000_000_000)
                var headers = [("Retry-After", String(seconds))]
                if rateLimitHeaders {
                    // draft-ietf-httpapi-ratelimit-headers: the bucket as a quota of `burst` per the
                    // time it takes to refill, none left, a token back in `seconds`.
                    let window = max(1, Int((Double(b.burst) / b.rate).rounded(.up)))
                    headers.append(("RateLimit-Policy", "\"throttle\";q=\(b.burst);w=\(window)"))
                    headers.append(("RateLimit", "\"throttle\";r=0;t=\(seconds)"))
                }
                return Refusal(.THROTTLED, reason: "throttled: \(b.rate)/s burst \(b.burst)", headers: headers)
            }
        }
        if let id = identity?.apiKeyID, let k = keyBuckets[id] {
            for (m, b) in k.methods where m == request.head.method {
                if let r = take(b) { return .refuse(r) }
            }
            if let b = k.plan, let r = take(b) { return .refuse(r) }
        }
        if let (scope, buckets) = perCaller {
            let who: String?
            switch scope {
            case .clientIP: who = request.clientIP?.description
            case .principal: who = identity?.principal
            case .shared: who = nil
            }
            if let who, let r = take(buckets.bucket(for: who, now: now)) { return .refuse(r) }
        }
        for b in shared {
            if let r = take(b) { return .refuse(r) }
        }
        if taken.isEmpty { return .pass }
        let spent = taken
        let clock = self.clock
        return .pass(nil, undo: AdmissionUndo { let t = clock(); for b in spent { b.giveBack(now: t) } })
    }
}

/// Admission phase 7: the quota of the key's usage plan. Spent: API Gateway's 429
/// `{"message":"Limit Exceeded"}`, with Retry-After up to the next period.
struct QuotaPhase: Sendable {
    /// By API key id.
    let counters: [String: QuotaCounter]
    let clock: @Sendable () -> Int64
    var rateLimitHeaders = false
    /// `on_store_error: closed`: refuse while the store is unusable (nil: admit, counting in memory).
    var failClosed: UsageState? = nil

    func admit(_ request: AuthRequest, identity: Identity?) -> PhaseOutcome {
        guard let id = identity?.apiKeyID, let q = counters[id] else { return .pass }
        if let state = failClosed, !state.storeHealthy {
            return .refuse(Refusal(.DEFAULT_5XX, reason: "quota store unusable and on_store_error is closed"))
        }
        let now = clock()
        switch q.take(now: now) {
        case .admitted:
            return .pass(nil, undo: AdmissionUndo { q.giveBack(now: now) })
        case .exceeded(let resetsAt):
            let reset = max(1, resetsAt - now)
            var headers = [("Retry-After", String(reset))]
            if rateLimitHeaders {
                let window = q.period.end(of: now) - q.period.start(of: now)
                headers.append(("RateLimit-Policy", "\"quota\";q=\(q.limit);w=\(window)"))
                headers.append(("RateLimit", "\"quota\";r=0;t=\(reset)"))
            }
            return .refuse(Refusal(.QUOTA_EXCEEDED, reason: "quota of key \(id) spent: \(q.limit) per \(q.period.rawValue)", headers: headers))
        }
    }
}
