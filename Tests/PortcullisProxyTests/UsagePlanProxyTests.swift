import Foundation
import Testing

@testable import PortcullisProxy

/// API keys, throttles and quotas through the real gateway: API Gateway's 403 and 429 bodies,
/// Retry-After, refunds when a later phase refuses, buckets per client, and limits kept across a
/// reload while they do not change.
@Suite struct UsagePlanProxyTests {
    static let alice = "alice-key-0123456789abcdefghijklmnop"
    static let bob = "bob-key-0123456789abcdefghijklmnopqrs"
    static let carol = "carol-key-0123456789abcdefghijklmnopq"
    static let dave = "dave-key-0123456789abcdefghijklmnopqr"

    static func config(searchRate: String = "0.001") -> String {
        """
        workers: 2
        access_log: off
        rate_limit_headers: true
        trusted_proxies: ["127.0.0.1/32"]
        listeners: [{ name: public, listen: "127.0.0.1:0" }]
        usage_plans:
          basic:
            stages: [{ api: demo, stage: demo, methods: { "/items/{id}": { GET: { rate: 0.001, burst: 2 } } } }]
            throttle: { rate: 0.001, burst: 5 }
            quota: { limit: 1000, period: DAY }
          tiny:
            stages: [{ api: demo, stage: demo }]
            throttle: { rate: 0.001, burst: 5 }
            quota: { limit: 1, period: DAY }
          other:
            stages: [{ api: other, stage: other }]
        api_keys:
          keys:
            - { id: k-alice, usage_plans: [basic], value: "\(alice)" }
            - { id: k-bob, usage_plans: [basic], enabled: false, value: "\(bob)" }
            - { id: k-carol, usage_plans: [other], value: "\(carol)" }
            - { id: k-dave, usage_plans: [tiny], value: "\(dave)" }
        apis:
          - name: demo
            stage: demo
            routes:
              - { path: /items, methods: [GET], upstream: backend, api_key_required: true }
              - { path: "/items/{id}", methods: [GET, PUT], upstream: backend, api_key_required: true }
              - { path: /search, methods: [GET], upstream: backend, throttle: { rate: \(searchRate), burst: 2, per: client_ip } }
          - name: other
            stage: other
            routes: [{ path: /x, upstream: backend, api_key_required: true }]
        upstreams:
          backend: { endpoints: ["http://${ECHO}"] }
        """
    }

    func get(_ h: Harness, _ path: String, key: String? = nil, from ip: String? = nil, method: String = "GET") throws -> RawResponse {
        var headers: [String: String] = [:]
        if let key { headers["x-api-key"] = key }
        if let ip { headers["X-Forwarded-For"] = ip }
        return try h.get(path, headers: headers, method: method)
    }

    @Test func keysThrottlesAndQuotas() async throws {
        let h = try await Harness(Self.config(), workers: 2)
        do {
            // The key: missing, unknown, disabled, for another stage: API Gateway's 403.
            for (key, what) in [(nil, "no key"), ("nope-0123456789abcdefghij", "unknown"), (Self.bob, "disabled"), (Self.carol, "other plan")] {
                let r = try get(h, "/demo/items", key: key)
                #expect(r.status == 403, "\(what)")
                #expect(r.bodyText == #"{"message":"Forbidden"}"#, "\(what)")
                #expect(r.header("x-amzn-ErrorType") == "ForbiddenException", "\(what)")
            }
            // The plan's bucket (burst 5, next token in 1000 s), shared by the key's routes.
            #expect(try get(h, "/demo/items", key: Self.alice).status == 200)
            #expect(try get(h, "/demo/items", key: Self.alice).status == 200)
            // The plan-method bucket of GET /items/{id} (burst 2) is spent before the plan's.
            #expect(try get(h, "/demo/items/1", key: Self.alice).status == 200)
            #expect(try get(h, "/demo/items/2", key: Self.alice).status == 200)
            let method = try get(h, "/demo/items/3", key: Self.alice)
            #expect(method.status == 429)
            #expect(method.bodyText == #"{"message":"Too Many Requests"}"#)
            #expect(method.header("x-amzn-ErrorType") == "TooManyRequestsException")
            #expect(Int(method.header("Retry-After") ?? "") ?? 0 > 900)
            // The IETF fields (rate_limit_headers: true): a bucket of 2 that refills in 2000 s.
            #expect(method.header("RateLimit-Policy") == #""throttle";q=2;w=2000"#)
            #expect(method.header("RateLimit")?.hasPrefix(#""throttle";r=0;t="#) == true)
            // PUT has no method limit: it takes the plan's fifth token (the refused GET took none).
            #expect(try get(h, "/demo/items/3", key: Self.alice, method: "PUT").status == 200)
            let plan = try get(h, "/demo/items", key: Self.alice)
            #expect(plan.status == 429 && plan.bodyText == #"{"message":"Too Many Requests"}"#)

            // Quota 1 per day: the second request is 429 Limit Exceeded, and every later one too:
            // the quota's refusal gives the throttle token back (burst 5 would else run out first).
            #expect(try get(h, "/demo/items", key: Self.dave).status == 200)
            for _ in 0..<6 {
                let q = try get(h, "/demo/items", key: Self.dave)
                #expect(q.status == 429)
                #expect(q.bodyText == #"{"message":"Limit Exceeded"}"#)
                #expect(q.header("x-amzn-ErrorType") == "LimitExceededException")
                #expect(Int(q.header("Retry-After") ?? "") ?? 0 >= 1)
                #expect(q.header("RateLimit-Policy") == #""quota";q=1;w=86400"#)
            }

            // A route throttled per client address: each client has its own bucket.
            #expect(try get(h, "/demo/search", from: "203.0.113.1").status == 200)
            #expect(try get(h, "/demo/search", from: "203.0.113.1").status == 200)
            #expect(try get(h, "/demo/search", from: "203.0.113.1").status == 429)
            #expect(try get(h, "/demo/search", from: "203.0.113.2").status == 200)

            // A reload keeps the buckets whose limits did not change...
            try h.reload(Self.config())
            #expect(try get(h, "/demo/search", from: "203.0.113.1").status == 429)
            #expect(try get(h, "/demo/items", key: Self.dave).status == 429)
            // ...and starts afresh those that changed.
            try h.reload(Self.config(searchRate: "0.002"))
            #expect(try get(h, "/demo/search", from: "203.0.113.1").status == 200)
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }
}
