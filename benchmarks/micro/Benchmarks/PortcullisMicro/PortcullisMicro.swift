import Benchmark
import Foundation
import NIOCore
import NIOEmbedded
import PortcullisCore
import PortcullisProxy

// Micro-benchmarks of the request path, one per phase that runs on every request, and one whole
// plain request through the real handler (benchmarks/README.md, "Micro-benchmarks"). Every
// fixture is checked before it is measured (a route that no longer matches, an admission that
// refuses, a response that is not 200 stops the run), so a smoke run also catches rot.

/// CPU time of the benchmark's thread. package-benchmark's `cpuTotal` reads /proc in scheduler
/// ticks (10 ms here), so an iteration of 1,000 sub-microsecond operations reads 0 or 10 ms;
/// `CLOCK_THREAD_CPUTIME_ID` counts nanoseconds.
let threadCPU = BenchmarkMetric.custom("CPU, thread (ns)", polarity: .prefersSmaller, useScalingFactor: true)

func threadCPUNanoseconds() -> Int {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return t.tv_sec * 1_000_000_000 + t.tv_nsec
}

/// Runs one iteration's operations (`scaledIterations`), recording the thread's CPU time for them.
@inline(__always)
func measure(_ benchmark: Benchmark, _ operation: () -> Void) {
    let start = threadCPUNanoseconds()
    for _ in benchmark.scaledIterations { operation() }
    benchmark.measurement(threadCPU, threadCPUNanoseconds() - start)
}

let benchmarks: @Sendable () -> Void = {
    // `make test` sets this: a few iterations of each, enough to show that they build and run.
    let smoke = ProcessInfo.processInfo.environment["PORTCULLIS_MICROBENCH_SMOKE"] != nil
    // Allocations and instructions per operation are the numbers to watch; time is noisy on
    // shared machines. `instructions` needs hardware perf counters: where the VM has none (this
    // one), package-benchmark leaves its row out.
    // An iteration runs the operation 1,000 times (`scaledIterations`), so the clock and counter
    // reads around it are spread thin; the table shows figures per operation.
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, threadCPU, .mallocCountTotal, .instructions, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: smoke ? 1 : 10,
        scalingFactor: smoke ? .one : .kilo,
        maxDuration: smoke ? .milliseconds(200) : .seconds(3),
        maxIterations: smoke ? 3 : 1_000_000
    )
    headParserBenchmarks()
    routerBenchmarks()
    admissionBenchmarks()
    connectionBenchmarks()
}

// MARK: Phase 2: the head

/// A browser-like GET with 8 header fields.
let getHead = """
    GET /v1/users/42/orders/7?expand=items HTTP/1.1\r
    Host: api.example.com\r
    User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r
    Accept: application/json\r
    Accept-Encoding: gzip, deflate, br\r
    Accept-Language: en-US,en;q=0.9\r
    Referer: https://app.example.com/orders\r
    Cookie: session=4f2a9c1e7b3d5a60; theme=dark\r
    Connection: keep-alive\r
    \r

    """

func headParserBenchmarks() {
    // As `ProxyConnection.startNextRequest` does: find the head's end, then index it, reusing
    // the connection's field array.
    let buffer = ByteBuffer(string: getHead)
    var fields: [HeaderField] = []
    let limits = HeadLimits()
    Benchmark("HeadParser: scan + parse, GET with 8 fields") { benchmark in
        measure(benchmark) {
            var scanned = 0
            let length = HeadScanner.headLength(in: buffer, scanned: &scanned)!
            let head = try! HeadParser.parseRequest(buffer.getSlice(at: buffer.readerIndex, length: length)!, limits: limits, reusing: &fields)
            blackHole(head)
        }
        precondition(fields.count == 8, "the head parsed into \(fields.count) fields")
    }
}

// MARK: Phase 3: the route

/// 21 routes in two APIs, literal, `{param}` and greedy `{proxy+}` templates mixed.
let routerYAML = """
    listeners: [{ name: public, listen: "127.0.0.1:0" }]
    access_log: off
    apis:
      - name: shop
        stage: v1
        hosts: ["api.example.com"]
        routes:
          - { path: /health, methods: [GET], upstream: b }
          - { path: /users, methods: [GET, POST], upstream: b }
          - { path: "/users/{id}", methods: [GET, PUT, DELETE], upstream: b }
          - { path: "/users/{id}/orders", methods: [GET, POST], upstream: b }
          - { path: "/users/{id}/orders/{order}", methods: [GET], upstream: b }
          - { path: "/users/{id}/orders/{order}/items", methods: [GET], upstream: b }
          - { path: /products, methods: [GET], upstream: b }
          - { path: "/products/{sku}", methods: [GET, PUT], upstream: b }
          - { path: "/products/{sku}/reviews", methods: [GET, POST], upstream: b }
          - { path: /carts, methods: [POST], upstream: b }
          - { path: "/carts/{cart}", methods: [GET, DELETE], upstream: b }
          - { path: "/carts/{cart}/checkout", methods: [POST], upstream: b }
          - { path: /search, methods: [GET], upstream: b }
          - { path: "/static/{proxy+}", methods: [GET], upstream: b }
          - { path: "/{proxy+}", methods: [ANY], upstream: b }
      - name: admin
        stage: admin
        routes:
          - { path: /status, methods: [GET], upstream: b }
          - { path: /reload, methods: [POST], upstream: b }
          - { path: "/keys/{id}", methods: [GET, DELETE], upstream: b }
          - { path: "/usage/{plan}/{key}", methods: [GET], upstream: b }
          - { path: /metrics, methods: [GET], upstream: b }
          - { path: "/files/{proxy+}", methods: [GET, PUT], upstream: b }
    upstreams:
      b: { endpoints: ["http://127.0.0.1:9"] }
    """

/// A head with only a request line and a Host field, parsed once: the router reads the method,
/// the path and the host from it.
func parsedHead(_ method: String, _ target: String, host: String = "api.example.com", extra: String = "") -> HTTPRequestHead {
    var fields: [HeaderField] = []
    return try! HeadParser.parseRequest(
        ByteBuffer(string: "\(method) \(target) HTTP/1.1\r\nHost: \(host)\r\n\(extra)\r\n"), limits: HeadLimits(), reusing: &fields)
}

func routerBenchmarks() {
    let gateway = try! MicroBenchmarkGateway(yaml: routerYAML, listener: "public")
    let cases: [(name: String, head: HTTPRequestHead, template: String)] = [
        ("literal", parsedHead("GET", "/v1/health"), "/health"),
        ("two parameters", parsedHead("GET", "/v1/users/42/orders/7?expand=items"), "/users/{id}/orders/{order}"),
        ("greedy", parsedHead("GET", "/v1/static/css/site/2024/main.css"), "/static/{proxy+}"),
        ("greedy fallback", parsedHead("PATCH", "/v1/no/such/resource"), "/{proxy+}"),
    ]
    for c in cases {
        precondition(gateway.route(c.head) == c.template, "\(c.name): routed to \(gateway.route(c.head) ?? "nothing")")
        Benchmark("Router: \(c.name), 21 routes") { benchmark in
            measure(benchmark) { blackHole(gateway.route(c.head)) }
        }
    }
}

// MARK: Phase 4: admission

let admissionYAML = """
    listeners: [{ name: public, listen: "127.0.0.1:0" }]
    access_log: off
    authorizers:
      office: { type: ip, allow: [10.0.0.0/8, 192.0.2.0/24], deny: [192.0.2.128/25] }
    # No throttle or quota on the plan: a bucket would run dry within a second at benchmark
    # speed, and the phase would measure refusals.
    usage_plans:
      standard:
        stages: [{ api: shop, stage: v1 }]
    api_keys:
      keys:
        - { id: k-one, usage_plans: [standard], value: "one-key-0123456789abcdefghijklmnopqr" }
        - { id: k-two, usage_plans: [standard], value: "two-key-0123456789abcdefghijklmnopqr" }
    apis:
      - name: shop
        stage: v1
        routes:
          - { path: /open, upstream: b }
          - { path: /office, upstream: b, auth: [office] }
          - { path: "/keyed/{id}", upstream: b, api_key_required: true }
    upstreams:
      b: { endpoints: ["http://127.0.0.1:9"] }
    """

func admissionBenchmarks() {
    let gateway = try! MicroBenchmarkGateway(yaml: admissionYAML, listener: "public")
    let cases: [(name: String, head: HTTPRequestHead, phases: Int)] = [
        ("open route", parsedHead("GET", "/v1/open"), 0),
        ("ip rule", parsedHead("GET", "/v1/office"), 1),
        ("API key", parsedHead("GET", "/v1/keyed/7", extra: "x-api-key: two-key-0123456789abcdefghijklmnopqr\r\n"), 1),
    ]
    for c in cases {
        let admission = gateway.admission(for: c.head, peer: "192.0.2.9")!
        precondition(admission.phaseCount == c.phases, "\(c.name): \(admission.phaseCount) phases")
        // The driver takes an event loop for phases that wait; these answer at once and never touch it.
        var loop: EmbeddedEventLoop? = nil
        Benchmark("Admission: \(c.name)") { benchmark in
            if loop == nil { loop = EmbeddedEventLoop() }
            let loop = loop!
            var refused: Refusal? = nil
            measure(benchmark) { refused = admission.run(on: loop) }
            precondition(refused == nil, "\(c.name): refused (\(refused!.reason))")
        }
    }
}

// MARK: Phases 2 to 7: one plain request

let connectionYAML = """
    listeners: [{ name: public, listen: "127.0.0.1:0" }]
    access_log: off
    # Rates no benchmark reaches: the throttle and quota phases admit every request, so they
    # measure taking a token and a unit, never a refusal.
    usage_plans:
      generous:
        stages: [{ api: keyed, stage: keyed }]
        throttle: { rate: 1000000, burst: 1000000 }
        quota: { limit: 1000000000, period: DAY }
    api_keys:
      keys:
        - { id: k-one, usage_plans: [generous], value: "one-key-0123456789abcdefghijklmnopqr" }
    authorizers:
      tokens:
        type: jwt
        secret: micro-benchmark-secret-0123456789abcdef
        algorithms: [HS256]
        issuer: https://issuer.example.com
        audiences: [shop]
      # Never called: its answer for the benchmark's token is put in its cache beforehand.
      lambda: { type: token, url: "http://127.0.0.1:9/authorize", identity_source: header.Authorization, cache: { ttl: 3600s } }
    apis:
      - name: shop
        stage: v1
        routes:
          - { path: "/users/{id}/orders/{order}", methods: [GET], upstream: backend }
      # The same route behind a one-statement resource policy that lets everyone in: what
      # entering admission costs when its only phase decides at once.
      - name: guarded
        stage: guard
        resource_policy:
          Version: "2012-10-17"
          Statement:
            - { Effect: Allow, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/*" }
        routes:
          - { path: "/users/{id}/orders/{order}", methods: [GET], upstream: backend }
      # The same route behind the five statements of benchmarks/conf/resource-policy-bench.json,
      # with the benchmark client's network (192.0.2.0/24) where that file has 127.0.0.0/8.
      - name: policed
        stage: police
        resource_policy:
          Version: "2012-10-17"
          Statement:
            - { Sid: AllowPartnerReadOnly, Effect: Allow, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/*/GET/*",
                Condition: { IpAddress: { "aws:SourceIp": ["198.51.100.0/24", "2001:db8:1234::/48"] } } }
            - { Sid: AllowInternalNetworks, Effect: Allow, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/*",
                Condition: { IpAddress: { "aws:SourceIp": ["192.0.2.0/24", "10.0.0.0/8"] } } }
            - { Sid: DenyDeletes, Effect: Deny, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/*/DELETE/*" }
            - { Sid: DenyBadBots, Effect: Deny, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/*",
                Condition: { StringLike: { "aws:UserAgent": ["*some-bad-bot*", "sqlmap/*", "Nikto*"] } } }
            - { Sid: DenyUnknownNetworks, Effect: Deny, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/*",
                Condition: { NotIpAddress: { "aws:SourceIp": ["192.0.2.0/24", "10.0.0.0/8", "198.51.100.0/24", "2001:db8:1234::/48"] } } }
        routes:
          - { path: "/users/{id}/orders/{order}", methods: [GET], upstream: backend }
      # The same route behind an API key with a usage plan: key, plan throttle, stage and default
      # throttles, quota (issue 17's benchmark route).
      - name: keyed
        stage: keyed
        routes:
          - { path: "/users/{id}/orders/{order}", methods: [GET], upstream: backend, api_key_required: true }
      # The same route behind a JWT authorizer, one token sent again and again: after the first
      # request, a hit in the verified-token cache (the `jwt_cached` scenario of `make bench`).
      - name: signed
        stage: signed
        routes:
          - { path: "/users/{id}/orders/{order}", methods: [GET], upstream: backend, auth: [tokens] }
      # The same route behind a Lambda-style authorizer whose Allow answer is cached: issue 18's
      # cache hit (external-authorizer.sh's cached route).
      - name: lambda
        id: lambdaapi1
        stage: lambda
        region: eu-west-1
        account: "123456789012"
        routes:
          - { path: "/users/{id}/orders/{order}", methods: [GET], upstream: backend, auth: [lambda] }
    upstreams:
      backend: { endpoints: ["http://127.0.0.1:9001"] }
    """

/// The Allow answer cached for the `lambda` route (an authorizer's usual policy form).
let lambdaAnswer = #"{"principalId":"user-7","policyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:eu-west-1:123456789012:lambdaapi1/lambda/*"}]},"context":{"tier":"gold"}}"#

/// HS256 over the `tokens` authorizer's secret; expires in 2100 (made with Python's hmac).
let cachedToken =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlLmNvbSIsImF1ZCI6InNob3AiLCJzdWIiOiJ1c2VyLTciLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTc2NDQ2MDgwMCwic2NvcGUiOiJvcmRlcnM6cmVhZCJ9.Hk7AAjt0Xy_xEdmkbVgGFYBfgHvFOZtY79dABY1ZKpM"

let upstreamResponse = """
    HTTP/1.1 200 OK\r
    Content-Type: application/json\r
    Content-Length: 27\r
    Date: Mon, 30 Nov 2026 12:00:00 GMT\r
    \r
    {"id":7,"status":"shipped"}
    """

/// A `ProxyConnection` in one embedded channel, its pooled upstream connection in another, on one
/// loop. Made on the thread that runs the benchmark: an embedded loop is used on its own thread.
final class PlainRequest {
    let connection: MicroBenchmarkConnection
    let client: EmbeddedChannel
    let upstream: EmbeddedChannel
    let request: ByteBuffer
    let response = ByteBuffer(string: upstreamResponse)

    /// `stage` replaces the head's `/v1` (the API), `extraHeader` is added after its Host line.
    /// `prepare` runs on the gateway before the first request (the cached external answer).
    init(stage: String = "v1", extraHeader: String = "", prepare: (MicroBenchmarkGateway, HTTPRequestHead) -> Void = { _, _ in }) throws {
        let text = getHead.replacingOccurrences(of: " /v1/", with: " /\(stage)/")
            .replacingOccurrences(of: "Host: api.example.com\r\n", with: "Host: api.example.com\r\n\(extraHeader)")
        request = ByteBuffer(string: text)
        let gateway = try MicroBenchmarkGateway(yaml: connectionYAML, listener: "public")
        var fields: [HeaderField] = []
        prepare(gateway, try HeadParser.parseRequest(request, limits: HeadLimits(), reusing: &fields))
        let loop = EmbeddedEventLoop()
        connection = try MicroBenchmarkConnection(gateway, loop: loop, upstreamGroup: "backend")
        upstream = EmbeddedChannel(handler: connection.upstream, loop: loop)
        try upstream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9001)).wait()
        connection.poolUpstream()
        client = EmbeddedChannel(handler: connection.client, loop: loop)
        try client.connect(to: SocketAddress(ipAddress: "192.0.2.9", port: 40000)).wait()
        // One exchange checked in full: the upstream got the request, the client the response,
        // and the upstream connection went back to the pool for the next request.
        try client.writeInbound(request)
        let head = try Self.drain(upstream)
        precondition(head.hasPrefix("GET /users/42/orders/7?expand=items HTTP/1.1\r\n"), "upstream got: \(head), client got: \((try? Self.drain(client)) ?? "")")
        precondition(head.contains("\r\nX-Forwarded-For: 192.0.2.9\r\n"), "upstream got: \(head)")
        try upstream.writeInbound(response)
        let answer = try Self.drain(client)
        precondition(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.hasSuffix(#"{"id":7,"status":"shipped"}"#), "client got: \(answer)")
        precondition(connection.upstreamIsPooled && client.isActive, "the connections were not kept alive")
    }

    static func drain(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let b = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: b) }
        return text
    }

    /// The request head in from the client, the upstream head out, the upstream's response in,
    /// the client's response out. Written buffers are dropped as a socket drops them once sent,
    /// so the connection's head scratch buffers are reused as in production.
    func exchange() throws {
        try client.writeInbound(request)
        var sent = 0
        while let b = try upstream.readOutbound(as: ByteBuffer.self) { sent += b.readableBytes }
        try upstream.writeInbound(response)
        var answered = 0
        while let b = try client.readOutbound(as: ByteBuffer.self) { answered += b.readableBytes }
        precondition(sent > 0 && answered > 0, "no exchange")
    }
}

func connectionBenchmarks() {
    // The plain route, then the same request through admission phases that decide at once: the
    // difference is what entering admission and those phases cost a whole request.
    let remember: (MicroBenchmarkGateway, HTTPRequestHead) -> Void = { gateway, head in
        precondition(gateway.rememberExternalAnswer(lambdaAnswer, authorizer: "lambda", for: head), "the answer was not cached")
    }
    let cases: [(name: String, stage: String, header: String, prepare: (MicroBenchmarkGateway, HTTPRequestHead) -> Void)] = [
        ("plain GET, keep-alive, pooled upstream", "v1", "", { _, _ in }),
        ("GET, allow-all resource policy", "guard", "", { _, _ in }),
        ("GET, five-statement resource policy", "police", "", { _, _ in }),
        ("GET, API key and usage plan", "keyed", "x-api-key: one-key-0123456789abcdefghijklmnopqr\r\n", { _, _ in }),
        ("GET, JWT (HS256, cached token)", "signed", "Authorization: Bearer \(cachedToken)\r\n", { _, _ in }),
        // The plain route with the external one's Authorization header (which it forwards):
        // the baseline of external-authorizer.sh, whose plain and cached routes get the same bytes.
        ("plain GET with an Authorization header", "v1", "Authorization: Bearer \(cachedToken)\r\n", { _, _ in }),
        ("GET, external authorizer (cached Allow)", "lambda", "Authorization: Bearer \(cachedToken)\r\n", remember),
    ]
    for c in cases {
        var fixture: PlainRequest? = nil
        Benchmark("ProxyConnection: \(c.name)") { benchmark in
            if fixture == nil { fixture = try! PlainRequest(stage: c.stage, extraHeader: c.header, prepare: c.prepare) }
            let request = fixture!
            measure(benchmark) { try! request.exchange() }
            // Every exchange went through the one pooled connection: no connect was attempted.
            precondition(request.connection.upstreamIsPooled && request.client.isActive, "the connections were not kept alive")
        }
    }
}
