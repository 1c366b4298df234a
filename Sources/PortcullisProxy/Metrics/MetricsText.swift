import PortcullisAuth
import PortcullisCore

/// Everything `/metrics` shows, gathered off the loops at scrape time.
/// One endpoint pool's figures, read on its loop and summed over the loops at a scrape.
struct PoolSample: Sendable {
    var upstream: String
    var endpoint: String
    var idle = 0
    var open = 0
    var connects = 0
    var connectFailures = 0
    var key: String { upstream + "\u{0}" + endpoint }

    init(upstream: String, endpoint: String) {
        self.upstream = upstream
        self.endpoint = endpoint
    }

    init(_ pool: EndpointPool) {
        upstream = pool.group.name
        endpoint = pool.spec.key
        idle = pool.idle.count
        open = pool.open
        connects = pool.connects
        connectFailures = pool.connectFailures
    }

    mutating func add(_ other: PoolSample) {
        idle += other.idle
        open += other.open
        connects += other.connects
        connectFailures += other.connectFailures
    }
}

struct MetricsSample: Sendable {
    var routes: [(api: String, route: String)]
    var requests = LoopMetrics()
    var stats = LoopStats()
    var activeConnections = 0
    var authorizers: [String: AuthorizerCacheCounters] = [:]
    var reloadsOK = 0
    var reloadsFailed = 0
    var generation = 1
    var ready = false
    var admitting = 0
    var authorizerNames: [String] = []
    /// Upstream pools summed over the loops, by upstream and endpoint.
    var pools: [String: PoolSample] = [:]
}

/// The Prometheus text exposition format (version 0.0.4) of a sample.
enum MetricsText {
    static func render(_ s: MetricsSample) -> String {
        var out = ""
        out.reserveCapacity(4096)
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func line(_ name: String, _ labels: [(String, String)], _ value: String) {
            out += name
            if !labels.isEmpty { out += "{" + labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}" }
            out += " " + value + "\n"
        }
        let stride = LoopMetrics.stride
        let slots = (0..<min(s.routes.count, s.requests.routes.count / stride)).filter { slot in
            (0..<5).contains { s.requests.routes[slot * stride + $0] > 0 }
        }
        family("portcullis_requests_total", "counter", "Requests answered, by API, route (\"-\": none matched) and status class.")
        for slot in slots {
            for c in 0..<5 where s.requests.routes[slot * stride + c] > 0 {
                line("portcullis_requests_total", [("api", s.routes[slot].api), ("route", s.routes[slot].route), ("code", "\(c + 1)xx")],
                     "\(s.requests.routes[slot * stride + c])")
            }
        }
        for (name, offset, help) in [
            ("portcullis_request_duration_seconds", LoopMetrics.totalOffset, "Time from the request head to the end of the answer."),
            ("portcullis_upstream_duration_seconds", LoopMetrics.upstreamOffset, "Time from sending upstream to the upstream's response head."),
        ] {
            family(name, "histogram", help)
            for slot in slots {
                let base = slot * stride + offset
                let count = s.requests.routes[base + LoopMetrics.bounds.count + 1]
                guard count > 0 else { continue }
                let labels = [("api", s.routes[slot].api), ("route", s.routes[slot].route)]
                var cumulative = 0
                for (i, bound) in LoopMetrics.bounds.enumerated() {
                    cumulative += s.requests.routes[base + i]
                    line(name + "_bucket", labels + [("le", seconds(bound))], "\(cumulative)")
                }
                line(name + "_bucket", labels + [("le", "+Inf")], "\(count)")
                line(name + "_sum", labels, seconds(Int64(s.requests.routes[base + LoopMetrics.bounds.count])))
                line(name + "_count", labels, "\(count)")
            }
        }
        family("portcullis_gateway_responses_total", "counter", "Answers from the gateway itself, by API Gateway's response type (THROTTLED, QUOTA_EXCEEDED, ACCESS_DENIED, ...).")
        for (i, type) in GatewayResponseType.allCases.enumerated() where s.requests.responses[i] > 0 {
            line("portcullis_gateway_responses_total", [("type", type.rawValue)], "\(s.requests.responses[i])")
        }
        family("portcullis_connections_active", "gauge", "Client connections open now.")
        line("portcullis_connections_active", [], "\(s.activeConnections)")
        family("portcullis_requests_admitting", "gauge", "Requests whose admission phases are running or waiting (an authorizer call, a key-set fetch).")
        line("portcullis_requests_admitting", [], "\(s.admitting)")
        family("portcullis_connections_accepted_total", "counter", "Client connections accepted.")
        line("portcullis_connections_accepted_total", [], "\(s.stats.connectionsAccepted)")
        family("portcullis_tls_handshakes_total", "counter", "TLS handshakes completed.")
        line("portcullis_tls_handshakes_total", [], "\(s.stats.tlsHandshakes)")
        family("portcullis_tls_handshake_failures_total", "counter", "TLS handshakes that failed.")
        line("portcullis_tls_handshake_failures_total", [], "\(s.stats.tlsHandshakeFailures)")
        let caches: [(String, String, KeyPath<AuthorizerCacheCounters, Int>)] = [
            ("hits", "Requests an external authorizer's cached answer decided.", \.hits),
            ("misses", "Lookups that started a call to the authorizer.", \.misses),
            ("coalesced", "Lookups that waited for a call another request started (single flight).", \.coalesced),
            ("evictions", "Entries removed to stay within max_entries or max_bytes.", \.evictions),
            ("errors", "Calls that ended without a usable answer.", \.errors),
        ]
        for (what, help, path) in caches {
            let name = "portcullis_authorizer_cache_\(what)_total"
            family(name, "counter", help)
            for (authorizer, c) in s.authorizers.sorted(by: { $0.key < $1.key }) { line(name, [("authorizer", authorizer)], "\(c[keyPath: path])") }
        }
        family("portcullis_authorizer_cache_entries", "gauge", "Answers cached now.")
        for (authorizer, c) in s.authorizers.sorted(by: { $0.key < $1.key }) { line("portcullis_authorizer_cache_entries", [("authorizer", authorizer)], "\(c.entries)") }
        family("portcullis_authorizer_decisions_total", "counter", "What each auth: entry decided: allow, deny (403), unauthorized (401), error (5xx).")
        let outcomes = AuthorizerOutcome.allCases
        for (slot, name) in s.authorizerNames.enumerated() {
            for o in outcomes {
                let i = slot * outcomes.count + o.rawValue
                line("portcullis_authorizer_decisions_total", [("authorizer", name), ("outcome", o.label)], "\(i < s.requests.decisions.count ? s.requests.decisions[i] : 0)")
            }
        }
        let pools = s.pools.values.sorted { ($0.upstream, $0.endpoint) < ($1.upstream, $1.endpoint) }
        family("portcullis_upstream_connections", "gauge", "Connections to each upstream endpoint, all loops: idle in the pool, or busy with a request.")
        for p in pools {
            line("portcullis_upstream_connections", [("upstream", p.upstream), ("endpoint", p.endpoint), ("state", "idle")], "\(p.idle)")
            line("portcullis_upstream_connections", [("upstream", p.upstream), ("endpoint", p.endpoint), ("state", "busy")], "\(p.open - p.idle)")
        }
        family("portcullis_upstream_connects_total", "counter", "Connections opened to each upstream endpoint.")
        for p in pools { line("portcullis_upstream_connects_total", [("upstream", p.upstream), ("endpoint", p.endpoint)], "\(p.connects)") }
        family("portcullis_upstream_connect_failures_total", "counter", "Connection attempts to each upstream endpoint that failed (refused, timed out).")
        for p in pools { line("portcullis_upstream_connect_failures_total", [("upstream", p.upstream), ("endpoint", p.endpoint)], "\(p.connectFailures)") }
        family("portcullis_reloads_total", "counter", "Config reloads, by outcome (a failed one keeps the running config).")
        line("portcullis_reloads_total", [("outcome", "ok")], "\(s.reloadsOK)")
        line("portcullis_reloads_total", [("outcome", "failed")], "\(s.reloadsFailed)")
        family("portcullis_config_generation", "gauge", "The running config's generation: 1 at start, +1 per successful reload.")
        line("portcullis_config_generation", [], "\(s.generation)")
        family("portcullis_ready", "gauge", "1 when every listener is bound, every key set loaded and the quota store writable.")
        line("portcullis_ready", [], s.ready ? "1" : "0")
        return out
    }

    /// Microseconds as seconds, exactly (no floating-point noise in `le` labels).
    static func seconds(_ micros: Int64) -> String {
        let whole = micros / 1_000_000, frac = micros % 1_000_000
        if frac == 0 { return "\(whole)" }
        var f = String(frac)
        f = String(repeating: "0", count: 6 - f.count) + f
        while f.hasSuffix("0") { f.removeLast() }
        return "\(whole).\(f)"
    }

    /// Label values: backslash, double quote and newline escaped.
    static func escape(_ v: String) -> String {
        var out = ""
        for c in v {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
