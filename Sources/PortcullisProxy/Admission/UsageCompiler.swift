import PortcullisAuth
import PortcullisConfig
import PortcullisCore
import PortcullisThrottle

/// Builds the API-key, throttle and quota phases of each route from a config, taking buckets
/// and counters from the server's `UsageState` by stable names, so a reload keeps those whose
/// limits did not change. Runs when a snapshot is compiled, never per request.
struct UsageCompiler {
    let config: PortcullisConfig
    let state: UsageState
    let keys: APIKeyTable
    let slotByID: [String: Int]
    /// Key identities per stage, shared by the stage's routes (`APIKeyPhase.keyIdentities`).
    private let identities = StageIdentities()

    private final class StageIdentities {
        var byStage: [String: [Identity?]] = [:]
    }

    init(_ config: PortcullisConfig, state: UsageState) {
        self.config = config
        self.state = state
        keys = APIKeyTable(config)
        slotByID = keys.slotByID
    }

    func phases(api: APIConfig, route: RouteConfig) -> [AdmissionStep] {
        var out: [AdmissionStep] = []
        let stage = "\(api.name)/\(api.stage)"
        var keyBuckets = [ThrottlePhase.KeyBuckets?](repeating: nil, count: keys.entries.count)
        var counters = [QuotaCounter?](repeating: nil, count: keys.entries.count)
        if route.apiKeyRequired {
            let shared = identities.byStage[stage] ?? APIKeyPhase.keyIdentities(keys, stage: stage)
            identities.byStage[stage] = shared
            out.append(.apiKey(APIKeyPhase(keys: keys, stage: stage, source: api.apiKeySource, keyIdentities: shared)))
            // Plan limits are per key and shared by every stage of the plan (API Gateway's rule):
            // the bucket and counter names hold the plan and the key, not the stage.
            for k in config.apiKeys {
                guard let slot = slotByID[k.id] else { continue }
                guard let planName = k.usagePlans.first(where: { covers(config.usagePlans[$0], api) }), let plan = config.usagePlans[planName] else {
                    continue
                }
                var methods: [(RequestMethod, TokenBucket)] = []
                for s in plan.stages where s.api == api.name {
                    for (m, t) in (s.methods[route.path] ?? [:]).sorted(by: { $0.key < $1.key }) {
                        let name = "plan:\(planName):key:\(k.id):method:\(api.name)\(route.path):\(m)"
                        methods.append((RequestMethod(m), state.bucket(name, rate: t.rate, burst: t.burst)))
                    }
                }
                let planBucket = plan.throttle.map { state.bucket("plan:\(planName):key:\(k.id)", rate: $0.rate, burst: $0.burst) }
                if !methods.isEmpty || planBucket != nil { keyBuckets[slot] = .init(methods: methods, plan: planBucket) }
                if let q = plan.quota {
                    counters[slot] = state.quota("quota:\(planName):key:\(k.id)", limit: q.limit, period: q.period, offset: q.offset)
                }
            }
        }
        var shared: [TokenBucket] = []
        var sharedNames: [String] = []
        var perCaller: (ThrottleConfig.Scope, KeyedBuckets)? = nil
        if let t = route.throttle {
            let name = "route:\(api.name):\(route.path)"
            if t.per == .shared {
                shared.append(state.bucket(name, rate: t.rate, burst: t.burst))
                sharedNames.append(name)
            } else {
                perCaller = (t.per, state.keyedBuckets("\(name):\(t.per.rawValue)", rate: t.rate, burst: t.burst))
            }
        }
        if let t = api.throttle {
            shared.append(state.bucket("stage:\(api.name)", rate: t.rate, burst: t.burst))
            sharedNames.append("stage:\(api.name)")
        }
        if let t = config.throttle {
            shared.append(state.bucket("default", rate: t.rate, burst: t.burst))
            sharedNames.append("default")
        }
        let anyKeyBucket = keyBuckets.contains { $0 != nil }
        let anyCounter = counters.contains { $0 != nil }
        if anyKeyBucket || perCaller != nil || !shared.isEmpty {
            out.append(.throttle(ThrottlePhase(
                keyBuckets: keyBuckets, perCaller: perCaller, shared: shared, clock: state.monotonicNanos, rateLimitHeaders: config.rateLimitHeaders,
                undoNeeded: anyCounter, sharedNames: sharedNames)))
        }
        if anyCounter {
            out.append(.quota(QuotaPhase(
                counters: counters, clock: state.wallSeconds, rateLimitHeaders: config.rateLimitHeaders,
                failClosed: config.failClosedOnStoreError ? state : nil)))
        }
        return out
    }

    func covers(_ plan: UsagePlanConfig?, _ api: APIConfig) -> Bool {
        plan?.stages.contains { $0.api == api.name && $0.stage == api.stage } ?? false
    }
}
