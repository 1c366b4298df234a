import Foundation
import NIOPosix
import PortcullisAuth
import Testing

@testable import PortcullisProxy

/// The admin listener: health, readiness, the bearer token, and `/metrics` in Prometheus's text
/// format with the series operators graph (requests by API, route and status class, latency
/// histograms, gateway responses by type, connections, reloads), checked by value and by
/// `prometheus_client`'s own parser (PyPI).
@Suite(.serialized) struct AdminMetricsTests {
    static func yaml(token: String? = nil, throttle: Bool = true) -> String {
        """
        workers: 2
        access_log: off
        admin: { listen: "127.0.0.1:0"\(token.map { ", token: \($0)" } ?? "") }
        listeners: [{ name: public, listen: "127.0.0.1:0" }]
        authorizers:
          office: { type: ip, allow: [10.0.0.0/8] }
          local: { type: ip, allow: [127.0.0.0/8] }
        apis:
          - name: demo
            stage: demo
            routes:
              - { path: /ok, methods: [GET], upstream: echo }
              - { path: /office, methods: [GET], upstream: echo, auth: [local, office] }
              - { path: /down, methods: [GET], upstream: dead }
              - { path: "/items/{id}", methods: [GET], upstream: echo }
              - { path: /limited, methods: [GET], upstream: echo\(throttle ? ", throttle: { rate: 0.001, burst: 1 }" : "") }
        upstreams:
          echo: { endpoints: ["http://${ECHO}"] }
          dead: { endpoints: ["http://${DEAD}"] }
        """
    }

    func admin(_ h: Harness, _ path: String, headers: [String: String] = [:]) throws -> RawResponse {
        let c = try RawConnection(port: h.server.boundAddresses["admin"]!.port!)
        var req = "GET \(path) HTTP/1.1\r\nHost: localhost\r\n"
        for (k, v) in headers { req += "\(k): \(v)\r\n" }
        c.send(req + "\r\n")
        return try c.readResponse()
    }

    /// The value of one sample line, `name{labels} value`.
    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func healthReadinessAndMetricsSeries() async throws {
        let h = try await Harness(Self.yaml(), workers: 2)
        #expect(try admin(h, "/healthz").bodyText == "ok\n")
        let ready = try admin(h, "/readyz")
        #expect(ready.status == 200 && ready.bodyText == "ready\n")
        for _ in 0..<5 { #expect(try h.get("/demo/ok").status == 200) }
        for id in 1...3 { #expect(try h.get("/demo/items/\(id)").status == 200) }
        #expect(try h.get("/demo/nope").status == 403)
        #expect(try h.get("/demo/limited").status == 200)
        #expect(try h.get("/demo/limited").status == 429)
        #expect(try h.get("/demo/office").status == 403)
        #expect(try h.get("/demo/down").status == 502)
        try h.reload(Self.yaml())
        #expect(throws: (any Error).self) { try h.reload("listeners: [") }

        let r = try admin(h, "/metrics")
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        let text = r.bodyText
        // Counted on whichever of the two loops served them, summed at the scrape.
        #expect(Self.value(text, #"portcullis_requests_total{api="demo",route="/ok",code="2xx"}"#) == 5)
        #expect(Self.value(text, #"portcullis_requests_total{api="demo",route="/items/{id}",code="2xx"}"#) == 3)
        #expect(Self.value(text, #"portcullis_requests_total{api="-",route="-",code="4xx"}"#) == 1)
        #expect(Self.value(text, #"portcullis_requests_total{api="demo",route="/limited",code="4xx"}"#) == 1)
        #expect(Self.value(text, #"portcullis_request_duration_seconds_count{api="demo",route="/ok"}"#) == 5)
        #expect(Self.value(text, #"portcullis_request_duration_seconds_bucket{api="demo",route="/ok",le="+Inf"}"#) == 5)
        #expect(Self.value(text, #"portcullis_upstream_duration_seconds_count{api="demo",route="/ok"}"#) == 5)
        // The throttled request never reached the upstream.
        #expect(Self.value(text, #"portcullis_upstream_duration_seconds_count{api="demo",route="/limited"}"#) == 1)
        #expect(Self.value(text, #"portcullis_gateway_responses_total{type="THROTTLED"}"#) == 1)
        #expect(Self.value(text, #"portcullis_gateway_responses_total{type="MISSING_AUTHENTICATION_TOKEN"}"#) == 1)
        #expect(Self.value(text, "portcullis_connections_accepted_total") ?? 0 >= 11)
        #expect(Self.value(text, #"portcullis_reloads_total{outcome="ok"}"#) == 1)
        #expect(Self.value(text, "portcullis_config_generation") == 2)
        #expect(Self.value(text, "portcullis_ready") == 1)
        // Each auth: entry's decision: local allowed, then office refused.
        #expect(Self.value(text, #"portcullis_authorizer_decisions_total{authorizer="local",outcome="allow"}"#) == 1)
        #expect(Self.value(text, #"portcullis_authorizer_decisions_total{authorizer="office",outcome="deny"}"#) == 1)
        #expect(Self.value(text, #"portcullis_authorizer_decisions_total{authorizer="office",outcome="allow"}"#) == 0)
        // Upstream pools: keep-alive connections to the echo upstream, and the dead one's failure.
        let echo = "http://127.0.0.1:\(h.echoPort)", dead = "http://127.0.0.1:\(h.deadPort)"
        #expect(Self.value(text, #"portcullis_upstream_connects_total{upstream="echo",endpoint="\#(echo)"}"#) ?? 0 >= 1)
        #expect(Self.value(text, #"portcullis_upstream_connections{upstream="echo",endpoint="\#(echo)",state="busy"}"#) == 0)
        #expect(Self.value(text, #"portcullis_upstream_connections{upstream="echo",endpoint="\#(echo)",state="idle"}"#) ?? 0 >= 1)
        #expect(Self.value(text, #"portcullis_upstream_connect_failures_total{upstream="dead",endpoint="\#(dead)"}"#) == 1)

        // Prometheus's own parser accepts the whole page.
        let parsed = try await Self.parseWithPrometheusClient(text)
        #expect(parsed.status == 0, "\(parsed.output)")
        #expect(parsed.output.contains("portcullis_request_duration_seconds histogram"), "\(parsed.output)")

        // Every series the Grafana dashboard queries is a family this page declares.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dashboard = try String(contentsOf: root.appendingPathComponent("grafana/portcullis-dashboard.json"), encoding: .utf8)
        let names = Set(dashboard.matches(of: /portcullis_[a-z_]+/).map { String($0.output) })
        #expect(names.count >= 12)
        for name in names {
            let family = name.replacing(/_(bucket|sum|count)$/, with: "")
            #expect(text.contains("# TYPE \(family) "), "the dashboard queries \(name), which /metrics does not have")
        }
        await h.stop()
    }

    /// A scrape is served by the event loops alone. It once waited for a Swift concurrency task,
    /// and when every thread of the cooperative pool was blocked (the synchronous test clients,
    /// a slow subprocess) `/metrics` went unanswered for 10 s: the rare failure of the test above
    /// on a loaded machine. Here every cooperative thread is held while the scrape is made.
    @Test func scrapeNeedsNoCooperativeThread() async throws {
        let h = try await Harness(Self.yaml(throttle: false), workers: 2)
        #expect(try h.get("/demo/ok").status == 200)
        // The cooperative pool has a thread per CPU; Foundation and the kernel may count CPUs
        // differently (affinity, cgroup quota), so the larger count is held. A thread another
        // test holds for 30 s is given up on: the scrape then runs with one more thread busy.
        let threads = max(ProcessInfo.processInfo.activeProcessorCount, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let started = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        // This test's own thread is the last one: it blocks in the scrape below.
        for _ in 1..<threads {
            Task.detached {
                started.signal()
                release.wait()
            }
        }
        for _ in 1..<threads { _ = started.wait(timeout: .now() + 30) }
        let scraped = Result { try admin(h, "/metrics") }
        for _ in 1..<threads { release.signal() }
        let r = try scraped.get()
        #expect(r.status == 200)
        #expect(Self.value(r.bodyText, #"portcullis_requests_total{api="demo",route="/ok",code="2xx"}"#) == 1)
        await h.stop()
    }

    @Test func tokenIsRequiredWhenSet() async throws {
        let h = try await Harness(Self.yaml(token: "s3cret-admin-token", throttle: false))
        let refused = try admin(h, "/metrics")
        #expect(refused.status == 401)
        #expect(refused.header("WWW-Authenticate") == "Bearer")
        #expect(try admin(h, "/metrics", headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(try admin(h, "/healthz", headers: ["Authorization": "Bearer s3cret-admin-token"]).status == 200)
        #expect(try admin(h, "/nothing", headers: ["Authorization": "Bearer s3cret-admin-token"]).status == 404)
        // The scheme in any case, as HTTP says; a token that only starts right is still wrong.
        #expect(try admin(h, "/healthz", headers: ["Authorization": "bearer s3cret-admin-token"]).status == 200)
        #expect(try admin(h, "/healthz", headers: ["Authorization": "Bearer s3cret-admin-token-and-more"]).status == 401)
        #expect(try admin(h, "/healthz", headers: ["Authorization": "Basic s3cret-admin-token"]).status == 401)
        await h.stop()
    }

    /// A reload that removes the admin listener closes it, and one that brings it back binds it
    /// again with the new config's token: the socket never outlives the config that asked for it.
    @Test func reloadClosesAndRebindsTheAdminListener() async throws {
        let h = try await Harness(Self.yaml(token: "first-admin-token-0123", throttle: false))
        let port = try #require(h.server.boundAddresses["admin"]?.port)
        #expect(try admin(h, "/healthz", headers: ["Authorization": "Bearer first-admin-token-0123"]).status == 200)
        try h.reload(Self.yaml(throttle: false).replacingOccurrences(of: "admin: { listen: \"127.0.0.1:0\" }\n", with: ""))
        #expect(h.server.boundAddresses["admin"] == nil)
        #expect(throws: (any Error).self) { _ = try RawConnection(port: port).readResponse() }
        #expect(try h.get("/demo/ok").status == 200)
        try h.reload(Self.yaml(token: "second-admin-token-0123", throttle: false))
        #expect(h.server.boundAddresses["admin"] != nil)
        #expect(try admin(h, "/healthz").status == 401)
        #expect(try admin(h, "/healthz", headers: ["Authorization": "Bearer first-admin-token-0123"]).status == 401)
        #expect(try admin(h, "/healthz", headers: ["Authorization": "Bearer second-admin-token-0123"]).status == 200)
        await h.stop()
    }

    /// `GET /keys` lists the keys without their values; `POST /cache/flush` empties an external
    /// authorizer's cache (the next request calls it again), all or by name.
    @Test func keysAndCacheFlush() async throws {
        let authz = try CountingAuthorizer { _, _, _ in .json(status: 200, body: CountingAuthorizer.policy("alice")) }
        defer { authz.stop() }
        let h = try await Harness("""
            workers: 1
            access_log: off
            admin: { listen: "127.0.0.1:0" }
            listeners: [{ name: public, listen: "127.0.0.1:0" }]
            authorizers:
              lab: { type: token, url: \(authz.url), cache: { ttl: 300s } }
            usage_plans:
              basic: { stages: [{ api: demo, stage: demo }], throttle: { rate: 10, burst: 20 } }
            api_keys:
              keys:
                - { id: k1, name: "Key \\"one\\"", usage_plans: [basic], value_sha256: "\(String(repeating: "ab", count: 32))" }
                - { id: k0, name: zero, enabled: false, usage_plans: [basic], value_sha256: "\(String(repeating: "cd", count: 32))" }
            apis:
              - name: demo
                stage: demo
                routes: [{ path: /a, methods: [GET], upstream: echo, auth: [lab] }]
            upstreams:
              echo: { endpoints: ["http://${ECHO}"] }
            """)
        let keys = try admin(h, "/keys")
        #expect(keys.status == 200)
        let items = keys.json["items"] as? [[String: Any]] ?? []
        #expect(items.map { $0["id"] as? String } == ["k0", "k1"])
        #expect(items.last?["name"] as? String == "Key \"one\"")
        #expect(items.first?["enabled"] as? Bool == false)
        #expect(items.last?["usagePlanIds"] as? [String] == ["basic"])
        #expect(!keys.bodyText.contains("abab") && !keys.bodyText.contains("value"))

        let bearer = ["Authorization": "Bearer token-one"]
        #expect(try h.get("/demo/a", headers: bearer).status == 200)
        #expect(try h.get("/demo/a", headers: bearer).status == 200)
        #expect(authz.calls() == 1)
        func post(_ path: String) throws -> RawResponse {
            let c = try RawConnection(port: h.server.boundAddresses["admin"]!.port!)
            c.send("POST \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
            return try c.readResponse()
        }
        #expect(try admin(h, "/cache/flush").status == 405)
        #expect(try post("/cache/flush?authorizer=nope").status == 404)
        let flushed = try post("/cache/flush?authorizer=lab")
        #expect(flushed.status == 200 && flushed.bodyText == #"{"flushed":["lab"]}"# + "\n")
        #expect(try h.get("/demo/a", headers: bearer).status == 200)
        #expect(authz.calls() == 2)
        #expect(try post("/cache/flush").bodyText == #"{"flushed":["lab"]}"# + "\n")
        await h.stop()
    }

    /// `GET /config` summarizes the running config with every secret redacted and the file's
    /// SHA-256 (what `sha256sum` prints for it) and generation, both moving on with a reload.
    /// `GET /usage` is API Gateway's GetUsage, read after the counts so far are written.
    @Test func configSummaryAndUsage() async throws {
        let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-usage-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: stateDir) }
        func yaml(limit: Int) -> String {
            """
            workers: 2
            access_log: off
            state_dir: \(stateDir)
            admin: { listen: "127.0.0.1:0", token: admin-s3cret-0123456789 }
            listeners: [{ name: public, listen: "127.0.0.1:0" }]
            authorizers:
              hs: { type: jwt, secret: jwt-s3cret-value-that-is-long-enough, algorithms: [HS256] }
              iam:
                type: sigv4
                credentials: [{ access_key_id: AKIDEXAMPLE, secret: sigv4-s3cret, principal: "arn:aws:iam::123456789012:user/alice" }]
              lambda: { type: token, url: "http://127.0.0.1:9/authorize?code=FUNCKEY-s3cret" }
            usage_plans:
              basic: { stages: [{ api: demo, stage: demo }], quota: { limit: \(limit), period: DAY } }
            api_keys:
              keys:
                - { id: k1, usage_plans: [basic], value: key-value-one-0123456789 }
                - { id: k2, usage_plans: [basic], value: key-value-two-0123456789 }
            apis:
              - name: demo
                stage: demo
                routes:
                  - { path: /a, methods: [GET], upstream: echo, api_key_required: true }
                  - { path: /b, methods: [GET], upstream: echo, auth: [hs] }
                  - { path: /c, methods: [GET], upstream: echo, auth: [{ any_of: [hs, lambda] }] }
            upstreams:
              echo: { endpoints: ["http://${ECHO}"] }
            """
        }
        let h = try await Harness(yaml(limit: 100), workers: 2)
        let auth = ["Authorization": "Bearer admin-s3cret-0123456789"]
        let config = try admin(h, "/config", headers: auth)
        #expect(config.status == 200)
        for secret in ["admin-s3cret", "jwt-s3cret", "sigv4-s3cret", "key-value-one", "key-value-two", "FUNCKEY"] {
            #expect(!config.bodyText.contains(secret), "\(secret) in \(config.bodyText)")
        }
        let file = try Data(contentsOf: URL(fileURLWithPath: h.configPath))
        let (code, sum, _) = try runTool(["sha256sum", h.configPath])
        #expect(code == 0)
        #expect(config.json["sha256"] as? String == String(sum.prefix(64)) && file.count > 0)
        #expect(config.json["generation"] as? Int == 1)
        #expect((config.json["admin"] as? [String: Any])?["token"] as? String == "[redacted]")
        let authorizers = config.json["authorizers"] as? [String: [String: Any]]
        #expect(authorizers?["hs"]?["secret"] as? String == "[redacted]")
        let iamKey = (authorizers?["iam"]?["accessKeys"] as? [[String: Any]])?.first
        #expect(iamKey?["accessKeyId"] as? String == "AKIDEXAMPLE" && iamKey?["secret"] as? String == "[redacted]")
        let routes = (config.json["apis"] as? [[String: Any]])?.first?["routes"] as? [[String: Any]]
        #expect(routes?.map { $0["path"] as? String } == ["/a", "/b", "/c"])
        #expect(routes?.map { $0["auth"] as? [String] } == [[], ["hs"], ["any_of(hs,lambda)"]])
        #expect(authorizers?["lambda"]?["url"] as? String == "http://127.0.0.1:9/authorize?[redacted]")
        #expect(config.json["apiKeys"] as? Int == 2)

        for _ in 0..<3 { #expect(try h.get("/demo/a", headers: ["x-api-key": "key-value-one-0123456789"]).status == 200) }
        #expect(try h.get("/demo/a", headers: ["x-api-key": "key-value-two-0123456789"]).status == 200)
        let today = UsageReportTests.today()
        let usage = try admin(h, "/usage?usagePlanId=basic&startDate=\(today)&endDate=\(today)", headers: auth)
        #expect(usage.status == 200, "\(usage.bodyText)")
        #expect(usage.json["usagePlanId"] as? String == "basic")
        #expect(usage.json["values"] as? [String: [[Int]]] == ["k1": [[3, 97]], "k2": [[1, 99]]])
        let one = try admin(h, "/usage?keyId=k2&start=\(today)&end=\(today)", headers: auth)
        #expect(one.json["values"] as? [String: [[Int]]] == ["k2": [[1, 99]]])
        #expect(try admin(h, "/usage?usagePlanId=basic&startDate=yesterday&endDate=\(today)", headers: auth).status == 400)
        #expect(try admin(h, "/usage?usagePlanId=gold&startDate=\(today)&endDate=\(today)", headers: auth).status == 400)
        #expect(try admin(h, "/usage?usagePlanId=basic", headers: auth).status == 400)
        #expect(try admin(h, "/usage?usagePlanId=basic&keyId=nosuchkey&startDate=\(today)&endDate=\(today)", headers: auth).status == 400)

        try h.reload(yaml(limit: 200))
        let after = try admin(h, "/config", headers: auth)
        #expect(after.json["generation"] as? Int == 2)
        #expect(after.json["sha256"] as? String != config.json["sha256"] as? String)
        await h.stop()
    }

    /// Runs `prometheus_client.parser.text_string_to_metric_families` on the page; prints each
    /// family's name and type. Runs on NIO's thread pool, not on a thread of the cooperative pool.
    static func parseWithPrometheusClient(_ text: String) async throws -> (status: Int32, output: String) {
        try await NIOThreadPool.singleton.runIfActive { try parseWithPrometheusClientBlocking(text) }
    }

    static func parseWithPrometheusClientBlocking(_ text: String) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", "-c",
            "import sys\nfrom prometheus_client.parser import text_string_to_metric_families\nfor f in text_string_to_metric_families(sys.stdin.read()):\n    print(f.name, f.type, len(f.samples))",
        ]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = output
        try p.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
