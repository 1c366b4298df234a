import Foundation
import NIOCore
import PortcullisAuth
import PortcullisCore
import PortcullisTLS
import Testing

@testable import PortcullisProxy

/// External authorizers through the real gateway, against a counting authorizer service on
/// loopback: cache hits, TTL expiry on a hand-moved clock, single flight, cached denies, per-ARN
/// evaluation of a cached policy, the 401/403/500 outcomes, timeouts, stale-if-error,
/// refresh-ahead, and the flush of a changed authorizer on reload. Nothing sleeps: tests wait on
/// the authorizer's call events and the cache's waiting count.
@Suite struct ExternalAuthorizerProxyTests {
    static let start = 1_800_000_000.0

    /// For tests that hold the authorizer's answer until they release it: the default 10 s
    /// timeout can pass on a loaded CI machine before the release, which turns the held call
    /// into an AUTHORIZER_FAILURE and frees its slot.
    static let heldTimeout = "    timeout: 30s"

    static func config(_ authz: CountingAuthorizer, authorizer: String = "", extraAuthorizers: String = "", routes: String = "", api: String = "") -> String {
        """
        workers: 2
        access_log: off
        listeners:
          - { name: public, listen: "127.0.0.1:0" }
        authorizers:
          lab:
            type: token
            url: \(authz.url)
            validation: "^Bearer [-0-9A-Za-z._~+/]+=*$"
        \(authorizer)
        \(extraAuthorizers)
        apis:
          - name: lab
            id: abc123
            stage: lab
            region: eu-west-1
            account: "123456789012"
        \(api)
            routes:
              - path: /a
                methods: [GET, POST]
                upstream: backend
                auth: [lab]
                set_headers:
                  X-Principal: $context.authorizer.principalId
                  X-Role: $context.authorizer.role
              - { path: /b, methods: [GET], upstream: backend, auth: [lab] }
        \(routes)
        upstreams:
          backend: { endpoints: ["http://${ECHO}"] }
        """
    }

    static let arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/lab/"

    func bearer(_ t: String) -> [String: String] { ["Authorization": "Bearer \(t)"] }

    @Test func cachedAnswersServeWithoutCallsAndReachTheUpstream() async throws {
        let authz = try CountingAuthorizer { _, _, _ in .json(status: 200, body: CountingAuthorizer.policy("alice", context: #"{"role":"admin","n":7}"#)) }
        defer { authz.stop() }
        let h = try await Harness(Self.config(authz), workers: 2)
        do {
            for _ in 0..<5 {
                let r = try h.get("/lab/a", headers: bearer("tok1"))
                #expect(r.status == 200)
                let headers = r.json["headers"] as? [String: String] ?? [:]
                #expect(headers["x-principal"] == "alice")
                #expect(headers["x-role"] == "admin")
            }
            #expect(authz.calls() == 1)
            // TOKEN event: exactly three fields, the whole header value and this method's ARN.
            let e = authz.events[0]
            #expect(e.count == 3)
            #expect(e["type"] as? String == "TOKEN")
            #expect(e["authorizationToken"] as? String == "Bearer tok1")
            #expect(e["methodArn"] as? String == Self.arn + "GET/a")
            let c = h.server.externalAuthorizers.authorizer(named: "lab")!.cache!.counters
            #expect(c.hits == 4 && c.misses == 1)
        }
        await h.stop()
    }

    @Test func missingOrMalformedTokensAre401WithoutACall() async throws {
        let authz = try CountingAuthorizer { _, _, _ in .json(status: 200, body: CountingAuthorizer.policy("alice")) }
        defer { authz.stop() }
        let h = try await Harness(Self.config(authz))
        do {
            let missing = try h.get("/lab/a")
            #expect(missing.status == 401)
            #expect(missing.bodyText == #"{"message":"Unauthorized"}"#)
            #expect(try h.get("/lab/a", headers: ["Authorization": "Basic x:y"]).status == 401)
            #expect(authz.totalCalls == 0)
        }
        await h.stop()
    }

    @Test func ttlExpiryOnAFakeClock() async throws {
        let clock = ManualClock(Self.start)
        let authz = try CountingAuthorizer { _, _, n in .json(status: 200, body: CountingAuthorizer.policy("v\(n)")) }
        defer { authz.stop() }
        let h = try await Harness(
            Self.config(authz, authorizer: "    cache: { ttl: 60s }"), externalAuthorizers: ExternalAuthorizerRegistry(clock: clock.clock))
        do {
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 200)
            clock.advance(by: 59)
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 200)
            #expect(authz.calls() == 1)
            clock.advance(by: 1)
            let r = try h.get("/lab/a", headers: bearer("t"))
            #expect((r.json["headers"] as? [String: String])?["x-principal"] == "v2")
            #expect(authz.calls() == 2)
        }
        await h.stop()
    }

    @Test func ttlZeroCallsEveryTime() async throws {
        let authz = try CountingAuthorizer { _, _, _ in .json(status: 200, body: CountingAuthorizer.policy("alice")) }
        defer { authz.stop() }
        let h = try await Harness(Self.config(authz, authorizer: "    cache: { ttl: 0s }"))
        do {
            for _ in 0..<3 { #expect(try h.get("/lab/a", headers: bearer("t")).status == 200) }
            #expect(authz.calls() == 3)
        }
        await h.stop()
    }

    @Test(.timeLimit(.minutes(1))) func singleFlightHundredConcurrentRequestsOneCall() async throws {
        let authz = try CountingAuthorizer { _, _, _ in .held(status: 200, body: CountingAuthorizer.policy("alice")) }
        defer { authz.stop() }
        let h = try await Harness(Self.config(authz, authorizer: Self.heldTimeout), workers: 2)
        do {
            let cache = h.server.externalAuthorizers.authorizer(named: "lab")!.cache!
            let key = ExternalAuthorizer.cacheKey(apiID: "abc123", stage: "lab", values: ["Bearer shared"])
            let waiting = cache.whenWaiting(key, count: 100, on: h.server.group.next())
            var connections: [RawConnection] = []
            for _ in 0..<100 {
                let c = try h.connect()
                c.send("GET /lab/a HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer shared\r\n\r\n")
                connections.append(c)
            }
            // Every request waits on the one call (two loops), then the authorizer answers once.
            try await waiting.valueOrCancel()
            authz.release()
            for c in connections { #expect(try c.readResponse().status == 200) }
            #expect(authz.calls() == 1)
            #expect(cache.counters.coalesced == 99)
        }
        await h.stop()
    }

    @Test func denyIsCachedWithTheExplicitDenyMessage() async throws {
        let authz = try CountingAuthorizer { _, _, _ in .json(status: 200, body: CountingAuthorizer.policy("eve", effect: "Deny")) }
        defer { authz.stop() }
        let h = try await Harness(Self.config(authz))
        do {
            for _ in 0..<3 {
                let r = try h.get("/lab/a", headers: bearer("bad"))
                #expect(r.status == 403)
                #expect(r.bodyText == #"{"Message":"User is not authorized to access this resource with an explicit deny"}"#)
                #expect(r.header("x-amzn-ErrorType") == "AccessDeniedException")
            }
            #expect(authz.calls() == 1)
        }
        await h.stop()
    }

    @Test func cachedPolicyIsEvaluatedPerMethodARN() async throws {
        // The authorizer names only the method it was asked about (API Gateway's known trap).
        let authz = try CountingAuthorizer { _, event, _ in
            .json(status: 200, body: CountingAuthorizer.policy("alice", resource: event["methodArn"] as? String ?? ""))
        }
        defer { authz.stop() }
        let h = try await Harness(Self.config(authz))
        do {
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 200)
            let other = try h.get("/lab/b", headers: bearer("t"))
            #expect(other.status == 403)
            #expect(other.bodyText == #"{"Message":"User is not authorized to access this resource"}"#)
            #expect(try h.get("/lab/a", headers: bearer("t"), method: "POST").status == 403)
            #expect(authz.calls() == 1)
        }
        await h.stop()
    }

    @Test func reauthorizeOnPolicyMissAsksAgainForTheNewARN() async throws {
        let authz = try CountingAuthorizer { _, event, _ in
            .json(status: 200, body: CountingAuthorizer.policy("alice", resource: event["methodArn"] as? String ?? ""))
        }
        defer { authz.stop() }
        let h = try await Harness(Self.config(authz, authorizer: "    on_policy_miss: reauthorize"))
        do {
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 200)
            #expect(try h.get("/lab/b", headers: bearer("t")).status == 200)
            #expect(authz.calls() == 2)
            #expect(authz.events[1]["methodArn"] as? String == Self.arn + "GET/b")
        }
        await h.stop()
    }

    @Test func unauthorizedIs401AndNeverCached() async throws {
        let authz = try CountingAuthorizer { _, _, n in
            n == 1 ? .json(status: 401, body: #"{"message":"Unauthorized"}"#) : .json(status: 200, body: #"{"errorMessage":"Unauthorized","errorType":"Exception"}"#)
        }
        defer { authz.stop() }
        let h = try await Harness(Self.config(authz))
        do {
            for _ in 0..<2 {
                let r = try h.get("/lab/a", headers: bearer("t"))
                #expect(r.status == 401)
                #expect(r.bodyText == #"{"message":"Unauthorized"}"#)
            }
            #expect(authz.calls() == 2)
        }
        await h.stop()
    }

    @Test(arguments: [
        "not json",
        #"{"principalId":"a"}"#,
        #"{"principalId":"a","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]},"context":{"nested":{"x":1}}}"#,
        #"{"principalId":"a","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*","Principal2":"*"}]}}"#,
        #"{"principalId":"a","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]},"pad":"\#(String(repeating: "x", count: 100_000))"}"#,
        #"{"errorMessage":"boom","errorType":"Exception"}"#,
    ])
    func malformedAnswersAre500ConfigurationErrorsAndNotCached(_ body: String) async throws {
        let authz = try CountingAuthorizer { _, _, _ in .json(status: 200, body: body) }
        defer { authz.stop() }
        let h = try await Harness(Self.config(authz))
        do {
            for _ in 0..<2 {
                let r = try h.get("/lab/a", headers: bearer("t"))
                #expect(r.status == 500)
                #expect(r.bodyText == #"{"message": null}"#)
                #expect(r.header("x-amzn-ErrorType") == "AuthorizerConfigurationException")
            }
            #expect(authz.calls() == 2)
        }
        await h.stop()
    }

    @Test func timeoutsAndUnreachableAuthorizersAre500Failures() async throws {
        let authz = try CountingAuthorizer { _, _, _ in .silent }
        defer { authz.stop() }
        let h = try await Harness(Self.config(authz, authorizer: "    timeout: 200ms"))
        do {
            let r = try h.get("/lab/a", headers: bearer("t"))
            #expect(r.status == 500)
            #expect(r.bodyText == #"{"message": null}"#)
            let counters = h.server.externalAuthorizers.authorizer(named: "lab")!.cache!.counters
            #expect(counters.errors == 1 && counters.entries == 0)
            // Unreachable: nothing listens on the port.
            try h.reload(Self.config(authz).replacingOccurrences(of: authz.url, with: "http://${DEAD}/authorize"))
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 500)
        }
        await h.stop()
    }

    @Test func callsInFlightAreCapped() async throws {
        let authz = try CountingAuthorizer { _, _, _ in .held(status: 200, body: CountingAuthorizer.policy("alice")) }
        defer { authz.stop() }
        let h = try await Harness(Self.config(authz, authorizer: "    max_concurrent_calls: 1\n" + Self.heldTimeout))
        do {
            let first = try h.connect()
            first.send("GET /lab/a HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer one\r\n\r\n")
            try await authz.whenCalls(1).get()
            // Another key while the one call is held: refused at once, without a second call.
            let second = try h.get("/lab/a", headers: bearer("two"))
            #expect(second.status == 500)
            #expect(authz.totalCalls == 1)
            authz.release()
            #expect(try first.readResponse().status == 200)
            #expect(h.server.externalAuthorizers.counters()["lab"]?.errors == 1)
        }
        await h.stop()
    }

    @Test func staleIfErrorServesTheLastAnswerWhileTheAuthorizerFails() async throws {
        let clock = ManualClock(Self.start)
        let authz = try CountingAuthorizer { _, _, n in
            n == 1 ? .json(status: 200, body: CountingAuthorizer.policy("alice")) : .json(status: 503, body: "{}")
        }
        defer { authz.stop() }
        let h = try await Harness(
            Self.config(authz, authorizer: "    cache: { ttl: 10s }\n    stale_if_error: 60s"),
            externalAuthorizers: ExternalAuthorizerRegistry(clock: clock.clock))
        do {
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 200)
            clock.advance(by: 30)
            let r = try h.get("/lab/a", headers: bearer("t"))
            #expect(r.status == 200)
            #expect((r.json["headers"] as? [String: String])?["x-principal"] == "alice")
            clock.advance(by: 41)
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 500)
            #expect(h.server.externalAuthorizers.authorizer(named: "lab")!.cache!.counters.staleServed == 1)
        }
        await h.stop()
    }

    @Test func refreshAheadRenewsAHotEntryBeforeItExpires() async throws {
        let clock = ManualClock(Self.start)
        let authz = try CountingAuthorizer { _, _, n in .json(status: 200, body: CountingAuthorizer.policy("v\(n)")) }
        defer { authz.stop() }
        let h = try await Harness(
            Self.config(authz, authorizer: "    cache: { ttl: 100s, refresh_ahead: 10s }"),
            externalAuthorizers: ExternalAuthorizerRegistry(clock: clock.clock))
        do {
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 200)
            clock.advance(by: 95)
            // Served from the cache at once; the renewal goes out in the background.
            let r = try h.get("/lab/a", headers: bearer("t"))
            #expect((r.json["headers"] as? [String: String])?["x-principal"] == "v1")
            try await authz.whenCalls(2).get()
            // Past the first answer's expiry: the renewed one serves (or this request joins the
            // renewal still in flight); either way no third call.
            clock.advance(by: 10)
            let later = try h.get("/lab/a", headers: bearer("t"))
            #expect((later.json["headers"] as? [String: String])?["x-principal"] == "v2")
            #expect(authz.calls() == 2)
        }
        await h.stop()
    }

    @Test func reloadFlushesAChangedAuthorizerAndKeepsTheOthers() async throws {
        let authz = try CountingAuthorizer { _, _, _ in .json(status: 200, body: CountingAuthorizer.policy("alice")) }
        defer { authz.stop() }
        let other = """
              other:
                type: request
                url: \(authz.url.replacingOccurrences(of: "/authorize", with: "/other"))
                identity_source: [header.X-Tenant]
            """
        let route = "      - { path: /t, methods: [GET], upstream: backend, auth: [other] }"
        let h = try await Harness(Self.config(authz, extraAuthorizers: other, routes: route))
        do {
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 200)
            #expect(try h.get("/lab/t", headers: ["X-Tenant": "t1"]).status == 200)
            #expect(authz.calls("/authorize") == 1 && authz.calls("/other") == 1)
            // Same config: both caches survive.
            try h.reload(Self.config(authz, extraAuthorizers: other, routes: route))
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 200)
            #expect(try h.get("/lab/t", headers: ["X-Tenant": "t1"]).status == 200)
            #expect(authz.calls("/authorize") == 1 && authz.calls("/other") == 1)
            // lab changes (its TTL): its entries go; other keeps its own.
            try h.reload(Self.config(authz, authorizer: "    cache: { ttl: 120s }", extraAuthorizers: other, routes: route))
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 200)
            #expect(try h.get("/lab/t", headers: ["X-Tenant": "t1"]).status == 200)
            #expect(authz.calls("/authorize") == 2 && authz.calls("/other") == 1)
        }
        await h.stop()
    }

    @Test func requestEventAndContextSourceIdentity() async throws {
        let authz = try CountingAuthorizer { _, _, _ in .json(status: 200, body: #"{"isAuthorized":true,"context":{"tenant":"t9"}}"#) }
        defer { authz.stop() }
        let req = """
              req:
                type: request
                url: \(authz.url)
                identity_source: [header.X-Tenant, query.v, context.httpMethod]
                simple_responses: true
            """
        let route = #"      - { path: "/items/{id}", methods: [GET], upstream: backend, auth: [req], set_headers: { X-Tenant-Id: $context.authorizer.tenant } }"#
        let h = try await Harness(Self.config(authz, extraAuthorizers: req, routes: route, api: "    stage_variables: { env: test }"))
        do {
            // Any source missing: 401 without a call.
            #expect(try h.get("/lab/items/42", headers: ["X-Tenant": "t9"]).status == 401)
            #expect(authz.totalCalls == 0)
            let r = try h.get("/lab/items/42?v=1&v=2", headers: ["X-Tenant": "t9"])
            #expect(r.status == 200)
            #expect((r.json["headers"] as? [String: String])?["x-tenant-id"] == "t9")
            let e = authz.events[0]
            #expect(e["type"] as? String == "REQUEST")
            #expect(e["resource"] as? String == "/items/{id}")
            #expect(e["path"] as? String == "/lab/items/42")
            #expect((e["pathParameters"] as? [String: String])?["id"] == "42")
            #expect((e["queryStringParameters"] as? [String: String])?["v"] == "2")
            #expect((e["multiValueQueryStringParameters"] as? [String: [String]])?["v"] == ["1", "2"])
            #expect((e["stageVariables"] as? [String: String])?["env"] == "test")
            #expect(((e["requestContext"] as? [String: Any])?["identity"] as? [String: Any])?["sourceIp"] as? String == "127.0.0.1")
        }
        await h.stop()
    }

    /// `payload_format_version: "2.0"`: an HTTP API's event reaches the authorizer through the
    /// real gateway, and its simple answer admits the request.
    @Test func httpAPIPayload2EventThroughTheGateway() async throws {
        let authz = try CountingAuthorizer { _, _, _ in .json(status: 200, body: #"{"isAuthorized":true,"context":{"tenant":"t9"}}"#) }
        defer { authz.stop() }
        let req = """
              req:
                type: request
                url: \(authz.url)
                identity_source: [header.X-Tenant]
                simple_responses: true
                payload_format_version: "2.0"
            """
        let route = #"      - { path: "/items/{id}", methods: [GET], upstream: backend, auth: [req], set_headers: { X-Tenant-Id: $context.authorizer.tenant } }"#
        let h = try await Harness(Self.config(authz, extraAuthorizers: req, routes: route))
        do {
            let r = try h.get("/lab/items/42?v=1&v=2", headers: ["X-Tenant": "t9", "Cookie": "a=1; b=2"])
            #expect(r.status == 200)
            #expect((r.json["headers"] as? [String: String])?["x-tenant-id"] == "t9")
            let e = authz.events[0]
            #expect(e["version"] as? String == "2.0")
            #expect(e["type"] as? String == "REQUEST")
            #expect((e["routeArn"] as? String)?.hasSuffix("/lab/GET/items/42") == true)
            #expect(e["identitySource"] as? [String] == ["t9"])
            #expect(e["routeKey"] as? String == "GET /items/{id}")
            #expect(e["rawPath"] as? String == "/lab/items/42")
            #expect(e["rawQueryString"] as? String == "v=1&v=2")
            #expect(e["cookies"] as? [String] == ["a=1", "b=2"])
            #expect((e["headers"] as? [String: String])?["x-tenant"] == "t9")
            #expect((e["queryStringParameters"] as? [String: String])?["v"] == "1,2")
            #expect((e["pathParameters"] as? [String: String])?["id"] == "42")
            let http = (e["requestContext"] as? [String: Any])?["http"] as? [String: Any]
            #expect(http?["method"] as? String == "GET")
            #expect(http?["sourceIp"] as? String == "127.0.0.1")
        }
        await h.stop()
    }

    @Test func usageIdentifierKeyFeedsTheAPIKeyPhase() async throws {
        let key = "authz-issued-key-0123456789abcdef"
        let authz = try CountingAuthorizer { _, event, _ in
            let token = event["authorizationToken"] as? String ?? ""
            return .json(status: 200, body: CountingAuthorizer.policy("alice", usageKey: token.hasSuffix("good") ? key : "unknown-key-value-0000000000"))
        }
        defer { authz.stop() }
        let plans = """
            usage_plans:
              basic: { stages: [{ api: lab, stage: lab }], throttle: { rate: 100, burst: 100 } }
            api_keys:
              keys:
                - { id: k-alice, usage_plans: [basic], value: "\(key)" }
            """
        let route = "      - { path: /keyed, methods: [GET], upstream: backend, auth: [lab], api_key_required: true }"
        let yaml = Self.config(authz, routes: route, api: "    api_key_source: AUTHORIZER") + "\n" + plans
        let h = try await Harness(yaml)
        do {
            #expect(try h.get("/lab/keyed", headers: bearer("good")).status == 200)
            let bad = try h.get("/lab/keyed", headers: bearer("bad"))
            #expect(bad.status == 403)
            #expect(bad.bodyText == #"{"message":"Forbidden"}"#)
        }
        await h.stop()
    }

    @Test func resourcePolicyConditionsSeeTheAuthorizerContext() async throws {
        let authz = try CountingAuthorizer { _, event, _ in
            let tier = (event["authorizationToken"] as? String ?? "").hasSuffix("gold") ? "gold" : "bronze"
            return .json(status: 200, body: CountingAuthorizer.policy("alice", context: #"{"tier":"\#(tier)"}"#))
        }
        defer { authz.stop() }
        let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*","Condition":{"StringEquals":{"context:tier":"bronze"}}}]}"#
        let h = try await Harness(Self.config(authz, api: "    resource_policy: \(policy)"))
        do {
            #expect(try h.get("/lab/a", headers: bearer("gold")).status == 200)
            let r = try h.get("/lab/a", headers: bearer("bronze"))
            #expect(r.status == 403)
            #expect(r.bodyText.contains("with an explicit deny"))
        }
        await h.stop()
    }

    // MARK: Cache scope, re-asking, simple answers, CA rotation

    /// Two APIs with their stages behind one authorizer that allows the whole stage it is asked
    /// about (`arn:...:API/STAGE/*`).
    static func twoAPIs(_ authz: CountingAuthorizer) -> String {
        """
        workers: 1
        access_log: off
        listeners:
          - { name: public, listen: "127.0.0.1:0" }
        authorizers:
          shared: { type: token, url: "\(authz.url)" }
        apis:
          - name: apione
            id: apione
            stage: one
            region: eu-west-1
            account: "123456789012"
            routes: [{ path: /x, methods: [GET], upstream: backend, auth: [shared] }]
          - name: apitwo
            id: apitwo
            stage: two
            region: eu-west-1
            account: "123456789012"
            routes: [{ path: /x, methods: [GET], upstream: backend, auth: [shared] }]
        upstreams:
          backend: { endpoints: ["http://${ECHO}"] }
        """
    }

    @Test(.timeLimit(.minutes(1))) func oneCachePerAPIAndStage() async throws {
        let authz = try CountingAuthorizer { _, event, _ in
            let arn = event["methodArn"] as? String ?? ""
            let stage = arn.split(separator: "/", maxSplits: 2).prefix(2).joined(separator: "/") + "/*"
            return .json(status: 200, body: CountingAuthorizer.policy("alice", resource: stage))
        }
        defer { authz.stop() }
        let h = try await Harness(Self.twoAPIs(authz))
        do {
            // API Gateway keeps one cache per authorizer per stage: apione's answer (a policy for
            // apione/one/*) must not answer for apitwo, which asks on its own.
            #expect(try h.get("/one/x", headers: bearer("A")).status == 200)
            #expect(try h.get("/two/x", headers: bearer("A")).status == 200)
            #expect(authz.calls() == 2)
            #expect(authz.events.map { $0["methodArn"] as? String } == [
                "arn:aws:execute-api:eu-west-1:123456789012:apione/one/GET/x", "arn:aws:execute-api:eu-west-1:123456789012:apitwo/two/GET/x",
            ])
            // Each is cached in its own scope.
            #expect(try h.get("/one/x", headers: bearer("A")).status == 200)
            #expect(try h.get("/two/x", headers: bearer("A")).status == 200)
            #expect(authz.calls() == 2)
        }
        await h.stop()
    }

    @Test(.timeLimit(.minutes(1))) func reauthorizeIsSingleFlightAndKeepsTheBaseEntry() async throws {
        // The first answer names GET only; the re-ask for POST is held until 50 POSTs wait on it.
        let authz = try CountingAuthorizer { _, event, n in
            let body = CountingAuthorizer.policy("alice", resource: event["methodArn"] as? String ?? "")
            return n == 1 ? .json(status: 200, body: body) : .held(status: 200, body: body)
        }
        defer { authz.stop() }
        let h = try await Harness(Self.config(authz, authorizer: "    on_policy_miss: reauthorize\n" + Self.heldTimeout), workers: 2)
        do {
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 200)
            let cache = h.server.externalAuthorizers.authorizer(named: "lab")!.cache!
            let postKey = ExternalAuthorizer.cacheKey(apiID: "abc123", stage: "lab", values: ["Bearer t"], methodARN: Self.arn + "POST/a")
            let waiting = cache.whenWaiting(postKey, count: 50, on: h.server.group.next())
            var connections: [RawConnection] = []
            for _ in 0..<50 {
                let c = try h.connect()
                c.send("POST /lab/a HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer t\r\nContent-Length: 0\r\n\r\n")
                connections.append(c)
            }
            // All 50 wait on one re-ask (two loops), then it answers once.
            try await waiting.valueOrCancel()
            authz.release()
            for c in connections { #expect(try c.readResponse().status == 200) }
            #expect(authz.calls() == 2)
            #expect(authz.events[1]["methodArn"] as? String == Self.arn + "POST/a")
            // The GET entry was not replaced by the POST answer: GET still hits, no call.
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 200)
            #expect(authz.calls() == 2)
        }
        await h.stop()
    }

    @Test(.timeLimit(.minutes(1))) func reauthorizeAlternatingMethodsAsksOncePerMethod() async throws {
        let authz = try CountingAuthorizer { _, event, _ in
            .json(status: 200, body: CountingAuthorizer.policy("alice", resource: event["methodArn"] as? String ?? ""))
        }
        defer { authz.stop() }
        let h = try await Harness(Self.config(authz, authorizer: "    on_policy_miss: reauthorize"))
        do {
            for _ in 0..<10 {
                #expect(try h.get("/lab/a", headers: bearer("t")).status == 200)
                #expect(try h.get("/lab/a", headers: bearer("t"), method: "POST").status == 200)
            }
            // One call for GET (the base entry), one re-ask for POST (its own entry).
            #expect(authz.calls() == 2)
        }
        await h.stop()
    }

    @Test(.timeLimit(.minutes(1))) func simpleAnswersNeedSimpleResponses() async throws {
        let authz = try CountingAuthorizer { _, event, _ in
            let tenant = (event["headers"] as? [String: Any])?["X-Tenant"] as? String
            return .json(status: 200, body: #"{"isAuthorized":\#(tenant == "good")}"#)
        }
        defer { authz.stop() }
        func config(_ simple: String) -> String {
            let req = """
                  req:
                    type: request
                    url: \(authz.url)
                    identity_source: [header.X-Tenant]
                \(simple)
                """
            return Self.config(authz, extraAuthorizers: req, routes: "      - { path: /t, methods: [GET], upstream: backend, auth: [req] }")
        }
        let h = try await Harness(config(""))
        do {
            // Without simple_responses the simple form is a misconfigured authorizer (REST APIs).
            let refused = try h.get("/lab/t", headers: ["X-Tenant": "good"])
            #expect(refused.status == 500)
            #expect(refused.bodyText == #"{"message": null}"#)
            #expect(refused.header("x-amzn-ErrorType") == "AuthorizerConfigurationException")
            try h.reload(config("    simple_responses: true"))
            #expect(try h.get("/lab/t", headers: ["X-Tenant": "good"]).status == 200)
            // HTTP APIs' deny: lower-case "message".
            let denied = try h.get("/lab/t", headers: ["X-Tenant": "bad"])
            #expect(denied.status == 403)
            #expect(denied.bodyText == #"{"message":"Forbidden"}"#)
        }
        await h.stop()
    }

    @Test(.timeLimit(.minutes(1))) func reloadPicksUpARotatedCAFile() async throws {
        let certs = try TLSProxyTests.makeCerts()
        let other = try TLSProxyTests.makeCerts()
        defer {
            try? FileManager.default.removeItem(at: certs)
            try? FileManager.default.removeItem(at: other)
        }
        let context = try TLSServerContext(TLSServerConfiguration(certificates: [
            TLSCertificateSource(certificateChainPEMPath: "\(certs.path)/server.crt", privateKeyPEMPath: "\(certs.path)/server.key")
        ]))
        let authz = try CountingAuthorizer(tls: context) { _, _, _ in .json(status: 200, body: CountingAuthorizer.policy("alice")) }
        defer { authz.stop() }
        // The trusted bundle starts as a CA that did not sign the authorizer's certificate.
        let bundle = other.appendingPathComponent("trusted.pem").path
        try FileManager.default.copyItem(atPath: "\(other.path)/ca.crt", toPath: bundle)
        let yaml = Self.config(authz, authorizer: "    ca_file: \(bundle)")
        let h = try await Harness(yaml)
        do {
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 500)
            #expect(authz.totalCalls == 0)
            // Rotate the CA in place (same path), then reload the unchanged YAML (SIGHUP's path).
            try FileManager.default.removeItem(atPath: bundle)
            try FileManager.default.copyItem(atPath: "\(certs.path)/ca.crt", toPath: bundle)
            try h.reload(yaml)
            #expect(try h.get("/lab/a", headers: bearer("t")).status == 200)
            #expect(authz.calls() == 1)
        }
        await h.stop()
    }
}

/// The access log carries an external authorizer's context beside the principal.
@Suite struct ExternalAuthorizerAccessLogTests {
    static func head(_ target: String) -> HTTPRequestHead {
        var fields: [HeaderField] = []
        return try! HeadParser.parseRequest(ByteBuffer(string: "GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n"), limits: HeadLimits(), reusing: &fields)
    }

    @Test func contextIsLoggedAsAnObject() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-log-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sink = try AccessLogSink(path: path)
        var buffer = AccessLogBuffer(sink: sink)
        buffer.append(AccessLogEntry(
            requestID: RequestID(hi: 1, lo: 2), sourceIP: "127.0.0.1", head: Self.head("/lab/a?x=1"), resourcePath: "/a", apiID: "abc123",
            stage: "lab", status: 200, responseLength: 10, responseMicros: 1500, integrationMicros: 1000, principal: "alice",
            apiKeyID: "k1", authorizerContext: ["role": "admin", "quote": "a\"b", "principalId": "spoofed"]))
        buffer.append(AccessLogEntry(
            requestID: RequestID(hi: 1, lo: 3), sourceIP: "127.0.0.1", head: Self.head("/lab/a"), resourcePath: "/a", apiID: "abc123",
            stage: "lab", status: 401, responseLength: 10, responseMicros: 1500, integrationMicros: -1, principal: nil,
            responseType: .UNAUTHORIZED, reason: "no token", authorizerError: "no token"))
        buffer.append(AccessLogEntry(
            requestID: RequestID(hi: 1, lo: 4), sourceIP: "10.1.2.3", head: nil, resourcePath: nil, apiID: nil, stage: nil,
            status: 403, responseLength: 10, responseMicros: 10, integrationMicros: -1, principal: nil,
            responseType: .ACCESS_DENIED, reason: "resource policy: explicit deny"))
        buffer.flush()
        sink.drain()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        // API Gateway's $context names: $context.authorizer.principalId is .authorizer.principalId.
        #expect(first?["requestId"] as? String == RequestID(hi: 1, lo: 2).description)
        #expect(first?["path"] as? String == "/lab/a")
        #expect(first?["httpMethod"] as? String == "GET")
        #expect(first?["resourcePath"] as? String == "/a")
        #expect(first?["apiId"] as? String == "abc123")
        #expect(first?["stage"] as? String == "lab")
        #expect(first?["protocol"] as? String == "HTTP/1.1")
        #expect(first?["responseLength"] as? Int == 10)
        #expect(first?["responseLatency"] as? Double == 1.5)
        #expect(first?["integrationLatency"] as? Double == 1.0)
        #expect(first?["identity"] as? [String: String] == ["sourceIp": "127.0.0.1", "apiKeyId": "k1"])
        let authorizer = first?["authorizer"] as? [String: Any]
        #expect(authorizer?["principalId"] as? String == "alice")
        #expect(authorizer?["error"] is NSNull)
        #expect(authorizer?["role"] as? String == "admin")
        #expect(authorizer?["quote"] as? String == "a\"b")
        #expect(first?["error"] == nil)
        let epoch = first?["requestTimeEpoch"] as? Int ?? 0
        #expect(first?["requestTime"] as? String == AccessLogBuffer.commonLogTime(Int64(epoch / 1000)))
        let second = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any]
        #expect(second?["integrationLatency"] is NSNull)
        #expect((second?["authorizer"] as? [String: Any])?["error"] as? String == "no token")
        #expect(second?["error"] as? [String: String] == ["responseType": "UNAUTHORIZED", "reason": "no token"])
        let third = try JSONSerialization.jsonObject(with: Data(lines[2].utf8)) as? [String: Any]
        // Not an auth: entry's refusal (the resource policy's): only error.reason says why.
        #expect((third?["authorizer"] as? [String: Any])?["error"] is NSNull)
        #expect(third?["error"] as? [String: String] == ["responseType": "ACCESS_DENIED", "reason": "resource policy: explicit deny"])
        #expect(third?["httpMethod"] is NSNull)
        #expect(third?["protocol"] is NSNull)
    }

    /// The longest line the fields can make (numbers at their widest, every value escaped six
    /// bytes to one, the longest response type, a long context) stays inside the space reserved
    /// for it (a precondition would stop the test) and is valid JSON.
    @Test func theLongestLineFitsItsReservation() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-log-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sink = try AccessLogSink(path: path)
        var buffer = AccessLogBuffer(sink: sink)
        let ugly = String(repeating: "\u{01}\"\\", count: 200)
        let longType = GatewayResponseType.allCases.max { $0.rawValue.count < $1.rawValue.count }!
        buffer.append(AccessLogEntry(
            requestID: RequestID(hi: .max, lo: .max), sourceIP: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", head: Self.head("/\(String(repeating: "%22", count: 300))"),
            resourcePath: ugly, apiID: ugly, stage: ugly, status: Int.max, responseLength: Int.max, responseMicros: .max, integrationMicros: .max,
            principal: ugly, apiKeyID: ugly, responseType: longType, reason: ugly, authorizerError: ugly,
            authorizerContext: Dictionary(uniqueKeysWithValues: (0..<20).map { ("k\($0)\(ugly)", ugly) })))
        // The fixed part alone: nothing variable, numbers at their widest.
        buffer.append(AccessLogEntry(
            requestID: RequestID(hi: .max, lo: .max), sourceIP: "", head: nil, resourcePath: nil, apiID: nil, stage: nil,
            status: Int.min + 1, responseLength: Int.min + 1, responseMicros: .min + 1, integrationMicros: .max,
            principal: nil, responseType: longType, reason: ""))
        buffer.flush()
        sink.drain()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[1].utf8.count < 1024, "\(lines[1].utf8.count)")
        #expect(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) is [String: Any])
        let parsed = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        #expect(parsed?["apiId"] as? String == ugly)
        #expect((parsed?["error"] as? [String: String])?["responseType"] == longType.rawValue)
    }

    @Test func requestTimeIsCommonLogFormatInUTC() {
        #expect(AccessLogBuffer.commonLogTime(0) == "01/Jan/1970:00:00:00 +0000")
        #expect(AccessLogBuffer.commonLogTime(1_796_063_405) == "30/Nov/2026:18:30:05 +0000")
    }

    /// A sample rate keeps about that share of lines, drawn independently per request; 1 keeps
    /// every one and 0 none.
    @Test func samplingKeepsAboutTheConfiguredShare() {
        var b = AccessLogBuffer(sink: nil, seed: 42)
        #expect((0..<1000).allSatisfy { _ in b.sampled(AccessLogBuffer.threshold(sample: 1)) })
        #expect(!(0..<1000).contains { _ in b.sampled(AccessLogBuffer.threshold(sample: 0)) })
        let tenth = AccessLogBuffer.threshold(sample: 0.1)
        let kept = (0..<100_000).filter { _ in b.sampled(tenth) }.count
        #expect((9_000...11_000).contains(kept), "\(kept)")
    }

    /// Values are written into the line without Strings: escaped exactly as `JSONString.quoted`
    /// escapes them, non-ASCII (and bytes that are not UTF-8) through a String; numbers as digits.
    @Test func bytesAreEscapedAsJSONStringQuotedDoes() {
        for text in ["plain", "q\"uote", "back\\slash", "tab\tnl\ncr\r", "ctl\u{01}\u{1f}", "caf\u{e9} \u{1F600}", ""] {
            #expect(AccessLogBuffer.rendered { $0.quoted(text) } == JSONString.quoted(text), "\(text)")
        }
        let raw = AccessLogBuffer.rendered { w in [UInt8]([0x2F, 0xFF, 0x61]).withUnsafeBytes { w.quoted($0) } }
        #expect(raw == JSONString.quoted(String(decoding: [0x2F, 0xFF, 0x61], as: UTF8.self)))
        for v: Int64 in [0, 7, 9, 10, 99, 100, 1_234_567_890_123, -42, Int64.max, Int64.min + 1] {
            #expect(AccessLogBuffer.rendered { $0.decimal(v) } == String(v))
        }
        func millis(_ v: Int64) -> String { AccessLogBuffer.rendered { $0.millis(v) } }
        #expect(millis(1_500) == "1.500" && millis(12) == "0.012" && millis(3_000_001) == "3000.001")
    }
}
