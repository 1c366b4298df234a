import Foundation
import PortcullisThrottle
import Testing

@testable import PortcullisConfig

/// Throttles, usage plans and API keys in the config: what loads, and every mistake named with
/// its key path and the fix.
@Suite struct UsageConfigTests {
    static let hashA = String(repeating: "ab", count: 32)
    static let hashB = String(repeating: "cd", count: 32)

    func config(_ extra: String, route: String = "{ path: /items, methods: [GET], upstream: backend, api_key_required: true }") -> String {
        """
        listeners: [{ name: public, listen: "127.0.0.1:0" }]
        throttle: { rate: 10000, burst: 5000 }
        apis:
          - name: demo
            stage: demo
            throttle: { rate: 500, burst: 1000 }
            routes:
              - \(route)
              - { path: "/items/{id}", methods: [GET, PUT], upstream: backend }
              - { path: /search, methods: [GET], upstream: backend, throttle: { rate: 0.5, burst: 1, per: client_ip } }
        upstreams:
          backend: { endpoints: ["http://127.0.0.1:9001"] }
        \(extra)
        """
    }

    static let plans = """
        usage_plans:
          basic:
            stages: [{ api: demo, stage: demo, methods: { "/items/{id}": { GET: { rate: 5, burst: 10 } } } }]
            throttle: { rate: 10, burst: 20 }
            quota: { limit: 1000, period: DAY, offset: 0 }
          gold:
            stages: [{ api: demo, stage: demo }]
            quota: { limit: 100000, period: month }
        """

    func messages(_ yaml: String) -> [String] {
        do {
            _ = try ConfigLoader.parse(yaml, file: "t.yaml")
            return []
        } catch {
            return error.issues.map { "\($0.keyPath): \($0.message)" }
        }
    }

    @Test func loadsThrottlesPlansAndKeys() throws {
        let c = try ConfigLoader.parse(
            config(
                Self.plans + """

                    api_keys:
                      keys:
                        - { id: k1, name: alice, usage_plans: [basic], value_sha256: \(Self.hashA) }
                        - { id: k2, name: bob, enabled: false, usage_plans: [gold], value: "bob-plain-key-0123456789" }
                    """), file: "t.yaml")
        #expect(c.throttle == ThrottleConfig(rate: 10000, burst: 5000))
        #expect(c.apis[0].throttle == ThrottleConfig(rate: 500, burst: 1000))
        #expect(c.apis[0].routes[0].apiKeyRequired)
        #expect(c.apis[0].routes[2].throttle == ThrottleConfig(rate: 0.5, burst: 1, per: .clientIP))
        #expect(c.usagePlans["basic"]?.stages[0].methods["/items/{id}"]?["GET"] == ThrottleConfig(rate: 5, burst: 10))
        #expect(c.usagePlans["basic"]?.quota == QuotaConfig(limit: 1000, period: .DAY, offset: 0))
        #expect(c.usagePlans["gold"]?.quota?.period == .MONTH)
        #expect(c.apiKeys.map(\.id) == ["k1", "k2"])
        #expect(c.apiKeys[1].enabled == false)
        // A plain value loads, hashed, with a warning that shows the hash to store instead.
        #expect(c.apiKeys[1].valueHash.count == 32)
        #expect(c.warnings.count == 1)
        #expect(c.warnings.first?.message.hasPrefix("a plain key value is stored in the file; store its hash instead: value_sha256: ") == true)
    }

    @Test(arguments: ["0", "-5", "NaN", "1e12", "inf", "ten", "0x10"])
    func absurdRatesAreRefused(rate: String) {
        let m = messages(config("", route: "{ path: /items, upstream: backend, throttle: { rate: \(rate), burst: 10 } }"))
        #expect(m.contains { $0.hasPrefix("apis[0].routes[0].throttle.rate: rate is requests per second, a number above 0") }, "\(rate): \(m)")
    }

    @Test func badBurstsPeriodsAndScopes() {
        let route = "{ path: /items, upstream: backend, throttle: { rate: 1, burst: 0, per: client } }"
        let m = messages(config("", route: route))
        #expect(m.contains("apis[0].routes[0].throttle.burst: burst is the bucket size, a whole number from 1 to 1000000, not \"0\""), "\(m)")
        #expect(m.contains { $0.hasPrefix("apis[0].routes[0].throttle.per: per is shared, client_ip or principal; did you mean \"client_ip\"?") }, "\(m)")
        let q = messages(config("usage_plans: { p: { stages: [{api: demo, stage: demo}], quota: { limit: 10, period: YEAR, offset: 10 } } }", route: "{ path: /items, upstream: backend }"))
        #expect(q.contains { $0.hasPrefix("usage_plans.p.quota.period: period is DAY, WEEK or MONTH (UTC)") }, "\(q)")
        #expect(q.contains("usage_plans.p.quota.offset: offset (requests taken off the first period) must be below limit 10"), "\(q)")
        #expect(messages(config("", route: "{ path: /items, upstream: backend, throttle: { rate: 5 } }")).contains {
            $0.hasPrefix("apis[0].routes[0].throttle.burst: a throttle needs a burst")
        })
    }

    @Test func keyMistakes() {
        let keys = """
            api_keys:
              keys:
                - { id: k1, usage_plans: [basic], value_sha256: \(Self.hashA) }
                - { id: k1, usage_plans: [basic], value_sha256: \(Self.hashB) }
                - { id: k3, usage_plans: [basic], value_sha256: \(Self.hashA) }
                - { id: k4, usage_plans: [silver], value_sha256: "abc" }
                - { id: k5, usage_plans: [basic, gold], value_sha256: \(String(repeating: "ef", count: 32)) }
                - { id: k6, usage_plans: [basic], value: short }
            """
        let m = messages(config(Self.plans + "\n" + keys))
        #expect(m.contains("api_keys.keys[1].id: key id k1 is listed twice"), "\(m)")
        #expect(m.contains("api_keys.keys[2]: keys k1 and k3 have the same value; values must be unique"), "\(m)")
        #expect(m.contains { $0.hasPrefix("api_keys.keys[3].value_sha256: value_sha256 is the key's SHA-256 as 64 hex digits") }, "\(m)")
        #expect(m.contains { $0.contains("key k5 is in plans basic and gold, which both cover demo/demo") }, "\(m)")
        #expect(m.contains("api_keys.keys[5].value: an API key value has 20 to 128 characters (API Gateway's rule), this one 5"), "\(m)")
    }

    @Test func referencesBetweenPlansKeysAndAPIs() {
        let plans = """
            usage_plans:
              p:
                stages: [{ api: demoo, stage: demo }, { api: demo, stage: prod, methods: { "/itemz": { GET: { rate: 1, burst: 1 } }, "/items/{id}": { DELETE: { rate: 1, burst: 1 } } } }]
            api_keys: { keys: [{ id: k1, usage_plans: [q], value_sha256: \(Self.hashA) }] }
            """
        let m = messages(config(plans))
        #expect(m.contains("usage_plans.p.stages[0].api: unknown API \"demoo\"; did you mean \"demo\"?"), "\(m)")
        #expect(m.contains("usage_plans.p.stages[1].stage: API demo has stage \"demo\", not \"prod\""), "\(m)")
        #expect(m.contains { $0.hasPrefix("usage_plans.p.stages[1].methods: API demo has no route \"/itemz\"") }, "\(m)")
        #expect(m.contains { $0.hasPrefix("usage_plans.p.stages[1].methods./items/{id}: route /items/{id} does not answer DELETE") }, "\(m)")
        #expect(m.contains { $0.hasPrefix("api_keys.k1.usage_plans: key k1 names unknown usage plan \"q\"") }, "\(m)")
        // api_key_required with no keys at all.
        #expect(messages(config("")).contains { $0.hasPrefix("api_keys: routes have api_key_required: true but no api_keys are configured") })
    }

    @Test func keyFileWithItsOwnPositions() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "keys:\n  - id: k1\n    usage_plans: [basic]\n    value_sha256: nothex\n".write(to: dir.appendingPathComponent("keys.yaml"), atomically: true, encoding: .utf8)
        let main = dir.appendingPathComponent("portcullis.yaml")
        try config(Self.plans + "\napi_keys: { file: keys.yaml }").write(to: main, atomically: true, encoding: .utf8)
        do {
            _ = try ConfigLoader.load(path: main.path, environment: [:])
            Issue.record("a bad key file must be refused")
        } catch {
            let text = error.issues.map(\.description).joined(separator: "\n")
            #expect(text.contains("keys.yaml:4:") && text.contains("keys[0].value_sha256"), "\(text)")
        }
    }
}
