import PortcullisAuth
import PortcullisConfig
import PortcullisCore
import PortcullisThrottle

/// Admission phase 6: the token buckets that apply to a request, most specific first (API
/// Gateway's order, shared/AWS_SEMANTICS.md §4.3): the key's plan-method bucket, its plan bucket,
/// the route's (shared, per client address or per principal), the stage's, the default. Every one
/// must admit; if one throttles, the tokens the others gave are given back, so a refused request
/// costs nothing. The phase's undo gives them back too when a later phase (quota) refuses.
/// A class, so that the route's phase list holds one reference.
final class ThrottlePhase: Sendable {
    struct KeyBuckets: Sendable {
        /// Plan-method buckets: one per method the plan names for this route.
        let methods: [(RequestMethod, TokenBucket)]
        let plan: TokenBucket?
    }
    /// By API key slot (`APIKeyTable`), on routes with `api_key_required`.
    let keyBuckets: [KeyBuckets?]
    /// The route's bucket per client or principal, if the route's throttle is `per:` one.
    let perCaller: (ThrottleConfig.Scope, KeyedBuckets)?
    /// Route (shared), stage, default: in that order.
    let shared: [TokenBucket]
    let clock: @Sendable () -> UInt64
    /// Add the IETF RateLimit fields to a 429 (`rate_limit_headers: true`).
    let rateLimitHeaders: Bool
    /// Whether a phase that can refuse runs after this one (the quota): only then is an undo
    /// made. Admission is over when the last phase passes, and nothing is given back after that.
    let undoNeeded: Bool
    /// The names of `shared` (`route:...`, `stage:...`, `default`), for explanations only.
    let sharedNames: [String]

    init(
        keyBuckets: [KeyBuckets?], perCaller: (ThrottleConfig.Scope, KeyedBuckets)?, shared: [TokenBucket],
        clock: @escaping @Sendable () -> UInt64, rateLimitHeaders: Bool, undoNeeded: Bool, sharedNames: [String] = []
    ) {
        self.sharedNames = sharedNames
        self.keyBuckets = keyBuckets
        self.perCaller = perCaller
        self.shared = shared
        self.clock = clock
        self.rateLimitHeaders = rateLimitHeaders
        self.undoNeeded = undoNeeded
    }

    func admit(_ request: AuthRequest, identity: Identity?) -> PhaseOutcome {
        let now = clock()
        let slot = identity?.apiKeySlot ?? -1
        let key = slot >= 0 && slot < keyBuckets.count ? keyBuckets[slot] : nil
        let caller = callerBucket(request, identity, now: now)
        let method = request.head.method
        // Take from each bucket in order; count how many gave a token, so that a refusal gives
        // back exactly those (walking the same order again) without keeping a list.
        var taken = 0
        var throttledBy: TokenBucket? = nil
        var wait: UInt64 = 0
        Self.forEach(key, caller, shared, method) { b in
            switch b.take(now: now) {
            case .admitted:
                taken += 1
                return true
            case .throttled(let w):
                (throttledBy, wait) = (b, w)
                return false
            }
        }
        if let b = throttledBy {
            var given = 0
            Self.forEach(key, caller, shared, method) { t in
                guard given < taken else { return false }
                t.giveBack(now: now)
                given += 1
                return true
            }
            return .refuse(refusal(b, wait: wait))
        }
        guard taken > 0, undoNeeded else { return .pass }
        let (shared, clock) = (self.shared, self.clock)
        return .pass(nil, undo: AdmissionUndo {
            let t = clock()
            Self.forEach(key, caller, shared, method) { $0.giveBack(now: t); return true }
        })
    }

    /// The route's bucket for this caller, when the route's throttle is per client or principal.
    private func callerBucket(_ request: AuthRequest, _ identity: Identity?, now: UInt64) -> TokenBucket? {
        guard let (scope, buckets) = perCaller else { return nil }
        let who: String?
        switch scope {
        case .clientIP: who = request.clientIP?.description
        case .principal: who = identity?.principal
        case .shared: who = nil
        }
        return who.map { buckets.bucket(for: $0, now: now) }
    }

    /// The buckets that apply, most specific first, until `body` says stop.
    @inline(__always)
    private static func forEach(
        _ key: KeyBuckets?, _ caller: TokenBucket?, _ shared: [TokenBucket], _ method: RequestMethod, _ body: (TokenBucket) -> Bool
    ) {
        if let key {
            for (m, b) in key.methods where m == method {
                if !body(b) { return }
            }
            if let b = key.plan, !body(b) { return }
        }
        if let caller, !body(caller) { return }
        for b in shared where !body(b) { return }
    }

    private func refusal(_ b: TokenBucket, wait: UInt64) -> Refusal {
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

/// Admission phase 7: the quota of the key's usage plan. Spent: API Gateway's 429
/// `{"message":"Limit Exceeded"}`, with Retry-After up to the next period. Always the last
/// phase, so it makes no undo: once it passes, admission is over and nothing is given back.
final class QuotaPhase: Sendable {
    /// By API key slot (`APIKeyTable`).
    let counters: [QuotaCounter?]
    let clock: @Sendable () -> Int64
    let rateLimitHeaders: Bool
    /// `on_store_error: closed`: refuse while the store is unusable (nil: admit, counting in memory).
    let failClosed: UsageState?

    init(counters: [QuotaCounter?], clock: @escaping @Sendable () -> Int64, rateLimitHeaders: Bool, failClosed: UsageState?) {
        self.counters = counters
        self.clock = clock
        self.rateLimitHeaders = rateLimitHeaders
        self.failClosed = failClosed
    }

    func admit(_ request: AuthRequest, identity: Identity?) -> PhaseOutcome {
        guard let identity, identity.apiKeySlot >= 0, identity.apiKeySlot < counters.count, let q = counters[identity.apiKeySlot] else {
            return .pass
        }
        let id = identity.apiKeyID ?? ""
        if let state = failClosed, !state.storeHealthy {
            return .refuse(Refusal(.DEFAULT_5XX, reason: "quota store unusable and on_store_error is closed"))
        }
        let now = clock()
        switch q.take(now: now) {
        case .admitted:
            return .pass
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
