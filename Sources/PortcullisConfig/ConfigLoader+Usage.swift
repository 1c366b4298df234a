import Foundation
public import PortcullisCore
import PortcullisThrottle
import PortcullisTLS
import Yams

extension ConfigLoader {
    static let throttleKeys = ["rate", "burst", "per"]
    static let planKeys = ["stages", "throttle", "quota", "description"]
    static let quotaKeys = ["limit", "period", "offset"]
    static let keyFields = ["id", "name", "description", "enabled", "usage_plans", "value_sha256", "value", "created"]
    /// Rates and bursts beyond these are mistakes, not limits (API Gateway's account default is
    /// 10,000 requests per second).
    static let maxRate = 1_000_000.0
    static let maxBurst = 1_000_000

    /// `throttle: {rate, burst, per}`: requests per second (fractions allowed) and bucket size.
    static func parseThrottle(_ r: YAMLReader, _ node: Node, _ path: String, allowPer: Bool) -> ThrottleConfig? {
        var rate: Double? = nil
        var burst: Int? = nil
        var per = ThrottleConfig.Scope.shared
        for (key, v, p) in r.mapping(node, path, allowed: allowPer ? throttleKeys : ["rate", "burst"]) {
            switch key {
            case "rate":
                guard let s = r.string(v, p) else { continue }
                guard let d = Double(s), d.isFinite, d > 0, d <= maxRate, s.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }) else {
                    r.fail(v, p, "rate is requests per second, a number above 0 and at most \(Int(maxRate)) (like 10 or 0.5), not \"\(s)\"")
                    continue
                }
                rate = d
            case "burst":
                guard let s = r.string(v, p) else { continue }
                guard let n = Int(s), n >= 1, n <= maxBurst else {
                    r.fail(v, p, "burst is the bucket size, a whole number from 1 to \(maxBurst), not \"\(s)\"")
                    continue
                }
                burst = n
            case "per":
                let s = r.string(v, p) ?? ""
                if let scope = ThrottleConfig.Scope(rawValue: s) { per = scope } else {
                    r.fail(v, p, "per is shared, client_ip or principal" + Suggest.hint(for: s, in: ThrottleConfig.Scope.allCases.map(\.rawValue)))
                }
            default: break
            }
        }
        guard let rate, let burst else {
            if rate == nil { r.fail(node, "\(path).rate", "a throttle needs a rate (requests per second)") }
            if burst == nil { r.fail(node, "\(path).burst", "a throttle needs a burst (the bucket size; API Gateway's default is twice the rate)") }
            return nil
        }
        return ThrottleConfig(rate: rate, burst: burst, per: per)
    }

    static func parseQuota(_ r: YAMLReader, _ node: Node, _ path: String) -> QuotaConfig? {
        var q = QuotaConfig(limit: 0, period: .DAY, offset: 0)
        var sawLimit = false
        for (key, v, p) in r.mapping(node, path, allowed: quotaKeys) {
            switch key {
            case "limit":
                guard let s = r.string(v, p) else { continue }
                if let n = Int64(s), n >= 1 { q.limit = n; sawLimit = true } else { r.fail(v, p, "limit is a whole number of requests, 1 or more, not \"\(s)\"") }
            case "period":
                let s = r.string(v, p) ?? ""
                if let period = QuotaPeriod(rawValue: s.uppercased()) { q.period = period } else {
                    r.fail(v, p, "period is DAY, WEEK or MONTH (UTC)" + Suggest.hint(for: s, in: QuotaPeriod.allCases.map(\.rawValue)))
                }
            case "offset":
                guard let s = r.string(v, p) else { continue }
                if let n = Int64(s), n >= 0 { q.offset = n } else { r.fail(v, p, "offset is a whole number of requests, 0 or more, not \"\(s)\"") }
            default: break
            }
        }
        if !sawLimit { r.fail(node, "\(path).limit", "a quota needs a limit (requests per period)"); return nil }
        if q.offset >= q.limit { r.fail(node, "\(path).offset", "offset (requests taken off the first period) must be below limit \(q.limit)") }
        return q
    }

    static func parseUsagePlans(_ r: YAMLReader, _ node: Node, _ path: String) -> [String: UsagePlanConfig] {
        var plans: [String: UsagePlanConfig] = [:]
        for (name, v, p) in r.mapping(node, path, allowed: []) {
            var plan = UsagePlanConfig(name: name, stages: [], throttle: nil, quota: nil)
            for (key, pv, pp) in r.mapping(v, p, allowed: planKeys) {
                switch key {
                case "stages": plan.stages = r.sequence(pv, pp).compactMap { parsePlanStage(r, $0.0, $0.1) }
                case "throttle": plan.throttle = parseThrottle(r, pv, pp, allowPer: false)
                case "quota": plan.quota = parseQuota(r, pv, pp)
                default: break
                }
            }
            if plan.stages.isEmpty { r.fail(v, "\(p).stages", "a usage plan names the API stages it covers: stages: [{api: NAME, stage: STAGE}]") }
            plans[name] = plan
        }
        return plans
    }

    static func parsePlanStage(_ r: YAMLReader, _ node: Node, _ path: String) -> UsagePlanStage? {
        var s = UsagePlanStage(api: "", stage: "", methods: [:])
        for (key, v, p) in r.mapping(node, path, allowed: ["api", "stage", "methods"]) {
            switch key {
            case "api": s.api = r.string(v, p) ?? ""
            case "stage": s.stage = (r.string(v, p) ?? "").trimmingSlashes
            case "methods":
                for (route, mv, mp) in r.mapping(v, p, allowed: []) {
                    for (method, tv, tp) in r.mapping(mv, mp, allowed: []) {
                        guard let t = parseThrottle(r, tv, tp, allowPer: false) else { continue }
                        s.methods[route, default: [:]][method.uppercased()] = t
                    }
                }
            default: break
            }
        }
        if s.api.isEmpty { r.fail(node, "\(path).api", "a plan stage names its API: {api: NAME, stage: STAGE}"); return nil }
        return s
    }

    /// `api_keys: {file: keys.yaml}` or `api_keys: {keys: [...]}` (inline).
    static func parseAPIKeys(_ r: YAMLReader, _ node: Node, _ path: String) -> [APIKeyConfig] {
        var keys: [APIKeyConfig] = []
        for (key, v, p) in r.mapping(node, path, allowed: ["file", "keys"]) {
            switch key {
            case "keys": keys += parseKeyList(r, v, p)
            case "file":
                guard let name = r.string(v, p) else { continue }
                readListFile(r, v, p, name: name, key: "keys", fix: "make one with `portcullis keys create --file \(name) --name NAME --plan PLAN`") {
                    keys += parseKeyList($0, $1, $2)
                }
            default: break
            }
        }
        return keys
    }

    static func parseKeyList(_ r: YAMLReader, _ node: Node, _ path: String) -> [APIKeyConfig] {
        var out: [APIKeyConfig] = []
        var ids = Set<String>(), hashes: [[UInt8]: String] = [:]
        for (n, p) in r.sequence(node, path) {
            var k = APIKeyConfig(id: "", name: "", usagePlans: [], valueHash: [], line: n.mark?.line ?? 0)
            for (key, v, kp) in r.mapping(n, p, allowed: keyFields) {
                switch key {
                case "id": k.id = r.string(v, kp) ?? ""
                case "name": k.name = r.string(v, kp) ?? ""
                case "description": k.description = r.string(v, kp) ?? ""
                case "enabled": k.enabled = r.bool(v, kp) ?? true
                case "usage_plans": k.usagePlans = r.strings(v, kp)
                case "created": _ = r.string(v, kp)
                case "value_sha256":
                    let s = (r.string(v, kp) ?? "").lowercased()
                    if s.utf8.count == 64, let bytes = Hex.decode(s) { k.valueHash = bytes } else {
                        r.fail(v, kp, "value_sha256 is the key's SHA-256 as 64 hex digits (`printf %s KEY | sha256sum`)")
                    }
                case "value":
                    guard let s = r.string(v, kp) else { continue }
                    if s.utf8.count < 20 || s.utf8.count > 128 {
                        r.fail(v, kp, "an API key value has 20 to 128 characters (API Gateway's rule), this one \(s.utf8.count)")
                    }
                    k.valueHash = Digest.hash(.sha256, Array(s.utf8))
                    r.warn(v, kp, "a plain key value is stored in the file; store its hash instead: value_sha256: \(Hex.lowercase(k.valueHash))")
                default: break
                }
            }
            if k.id.isEmpty { r.fail(n, "\(p).id", "every key needs an id (shown in logs and usage; never the secret)"); continue }
            if k.name.isEmpty { k.name = k.id }
            if k.valueHash.isEmpty { r.fail(n, "\(p).value_sha256", "key \(k.id) needs value_sha256 (or value)"); continue }
            if !ids.insert(k.id).inserted { r.fail(n, "\(p).id", "key id \(k.id) is listed twice"); continue }
            if let other = hashes[k.valueHash] { r.fail(n, p, "keys \(other) and \(k.id) have the same value; values must be unique"); continue }
            hashes[k.valueHash] = k.id
            out.append(k)
        }
        return out
    }

    /// References between plans, keys and APIs, once everything is parsed.
    static func checkUsage(_ r: YAMLReader, _ c: PortcullisConfig, _ root: Node) {
        let apis = Dictionary(c.apis.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, plan) in c.usagePlans.sorted(by: { $0.key < $1.key }) {
            for (i, s) in plan.stages.enumerated() {
                let p = "usage_plans.\(name).stages[\(i)]"
                guard let api = apis[s.api] else {
                    r.fail(nil, "\(p).api", "unknown API \"\(s.api)\"" + Suggest.hint(for: s.api, in: apis.keys))
                    continue
                }
                if s.stage != api.stage && !(s.stage.isEmpty && api.stage.isEmpty) {
                    r.fail(nil, "\(p).stage", "API \(s.api) has stage \"\(api.stage)\", not \"\(s.stage)\"")
                }
                for (route, methods) in s.methods {
                    guard let rc = api.routes.first(where: { $0.path == route }) else {
                        r.fail(nil, "\(p).methods", "API \(s.api) has no route \"\(route)\"" + Suggest.hint(for: route, in: api.routes.map(\.path)))
                        continue
                    }
                    for m in methods.keys {
                        if case .only(let allowed) = rc.methods, !allowed.contains(m) {
                            r.fail(nil, "\(p).methods.\(route)", "route \(route) does not answer \(m)" + Suggest.hint(for: m, in: allowed))
                        }
                    }
                }
            }
        }
        for k in c.apiKeys {
            var stages: [String: String] = [:]
            for plan in k.usagePlans {
                guard let pc = c.usagePlans[plan] else {
                    r.fail(nil, "api_keys.\(k.id).usage_plans", "key \(k.id) names unknown usage plan \"\(plan)\"" + Suggest.hint(for: plan, in: c.usagePlans.keys))
                    continue
                }
                for s in pc.stages {
                    if let other = stages["\(s.api)/\(s.stage)"], other != plan {
                        r.fail(nil, "api_keys.\(k.id).usage_plans", "key \(k.id) is in plans \(other) and \(plan), which both cover \(s.api)/\(s.stage); API Gateway allows one plan per API stage")
                    }
                    stages["\(s.api)/\(s.stage)"] = plan
                }
            }
        }
        let keyRoutes = c.apis.flatMap { a in a.routes.filter(\.apiKeyRequired).map { (a, $0) } }
        if !keyRoutes.isEmpty && c.apiKeys.isEmpty {
            r.fail(root, "api_keys", "routes have api_key_required: true but no api_keys are configured (api_keys: {file: keys.yaml})")
        }
    }
}
