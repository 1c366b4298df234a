import Foundation
import Testing

@testable import PortcullisConfig

/// `type: token` and `type: request` authorizers: defaults as API Gateway's, and every mistake
/// reported at its key with the fix.
@Suite struct ExternalAuthorizerConfigTests {
    /// The authorizer's keys, one a line, indented under `lab:` whatever their indentation here.
    func config(_ authorizer: String, api: String = "") -> String {
        let authorizer = authorizer.split(separator: "\n").map { "    " + $0.drop { $0 == " " } }.joined(separator: "\n")
        return """
        listeners: [{ name: public, listen: "127.0.0.1:0" }]
        authorizers:
          lab:
        \(authorizer)
        apis:
          - name: demo
            stage: demo
        \(api)
            routes: [{ path: /x, upstream: backend, auth: [lab] }]
        upstreams:
          backend: { endpoints: ["http://127.0.0.1:9001"] }
        """
    }

    func load(_ authorizer: String, api: String = "") throws -> ExternalAuthorizerConfig {
        let c = try ConfigLoader.parse(config(authorizer, api: api), file: "t.yaml")
        guard case .external(let e)? = c.authorizers["lab"]?.kind else { throw ConfigError([]) }
        return e
    }

    func problems(_ authorizer: String, api: String = "") -> [String] {
        do {
            _ = try ConfigLoader.parse(config(authorizer, api: api), file: "t.yaml")
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func tokenDefaults() throws {
        let e = try load("""
                type: token
                url: http://127.0.0.1:9100/authorize
            """)
        #expect(e.kind == .token)
        #expect(e.identitySources == [.header("authorization")])
        #expect(e.cache.ttl == .seconds(300))
        #expect(e.cache.denyTTL == nil)
        #expect(e.cache.maxEntries == 100_000)
        #expect(e.cache.maxBytes == 64 << 20)
        #expect(e.cache.refreshAhead == .zero)
        #expect(e.staleIfError == .zero)
        #expect(e.onPolicyMiss == .deny)
        #expect(e.timeout == .seconds(10))
    }

    @Test func everySetting() throws {
        let e = try load("""
                type: request
                url: https://auth.example.com/authorize
                identity_source: [header.X-Tenant, query.q, context.sourceIp, stage_variable.env, method.request.header.Authorization]
                timeout: 2s
                cache: { ttl: 600s, deny_ttl: 30s, max_entries: 5000, max_bytes: 8MiB, refresh_ahead: 20s }
                stale_if_error: 60s
                on_policy_miss: reauthorize
                max_concurrent_calls: 64
                max_answer_size: 16KiB
            """, api: "    stage_variables: { env: prod }")
        #expect(e.identitySources == [.header("x-tenant"), .query("q"), .context("sourceIp"), .stageVariable("env"), .header("authorization")])
        #expect(e.timeout == .seconds(2))
        #expect(e.cache.ttl == .seconds(600))
        #expect(e.cache.denyTTL == .seconds(30))
        #expect(e.cache.maxEntries == 5000)
        #expect(e.cache.maxBytes == 8 << 20)
        #expect(e.cache.refreshAhead == .seconds(20))
        #expect(e.staleIfError == .seconds(60))
        #expect(e.onPolicyMiss == .reauthorize)
        #expect(e.maxConcurrentCalls == 64)
        #expect(e.maxAnswerBytes == 16 << 10)
    }

    @Test(arguments: [
        ("type: token\n        url: http://127.0.0.1:9100/a\n        cache: { ttl: 3601s }", "cache.ttl: at most 3600s"),
        ("type: token\n        url: http://127.0.0.1:9100/a\n        cache: { deny_ttl: 2h }", "cache.deny_ttl: at most 3600s"),
        ("type: token", "url: a token authorizer needs the url"),
        ("type: token\n        url: http://auth.example.com/a", "use https"),
        ("type: token\n        url: ftp://x", "expected an http(s) URL"),
        ("type: token\n        url: http://127.0.0.1:9100/a\n        identity_source: [header.A, header.B]", "use type: request for several"),
        ("type: token\n        url: http://127.0.0.1:9100/a\n        identity_source: query.token", "from a header"),
        ("type: request\n        url: http://127.0.0.1:9100/a", "needs at least one identity source"),
        ("type: request\n        url: http://127.0.0.1:9100/a\n        identity_source: header.A\n        validation: \"^x\"", "validation applies to token authorizers only"),
        ("type: request\n        url: http://127.0.0.1:9100/a\n        identity_source: cookie.A", "identity source \"cookie.A\""),
        ("type: request\n        url: http://127.0.0.1:9100/a\n        identity_source: context.nope", "context.VARIABLE"),
        ("type: token\n        url: http://127.0.0.1:9100/a\n        validation: \"(\"", "invalid regular expression"),
        ("type: token\n        url: http://127.0.0.1:9100/a\n        timeout: 45s", "timeout is between"),
        ("type: token\n        url: http://127.0.0.1:9100/a\n        on_policy_miss: allow", "on_policy_miss is deny"),
        ("type: token\n        url: http://127.0.0.1:9100/a\n        cache: { ttl: 10s, refresh_ahead: 10s }", "refresh_ahead must be shorter than ttl"),
        ("type: token\n        url: http://127.0.0.1:9100/a\n        cache: { tll: 10s }", "unknown key \"tll\""),
        ("type: token\n        url: http://127.0.0.1:9100/a\n        result_ttl: 10s", "unknown key \"result_ttl\""),
        ("type: request\n        url: http://127.0.0.1:9100/a\n        identity_source: stage_variable.env", "stage variable env is not set on API demo"),
        // An empty list would make one cache key of every caller's token.
        ("type: token\n        url: http://127.0.0.1:9100/a\n        identity_source: []", "identity_source: a token authorizer reads its token from one header"),
        ("type: token\n        url: http://127.0.0.1:9100/a\n        simple_responses: true", "simple_responses applies to request authorizers only"),
        ("type: request\n        url: http://127.0.0.1:9100/a\n        identity_source: header.A\n        simple_responses: maybe", "expected true or false"),
        // 16 shards: 64KiB is 4KiB a shard, less than one answer of the default 64KiB.
        ("type: token\n        url: http://127.0.0.1:9100/a\n        cache: { max_bytes: 64KiB }", "cache.max_bytes: cache.max_bytes (65536 bytes) leaves each of the cache's 16 shards"),
        ("type: token\n        url: http://127.0.0.1:9100/a\n        max_answer_size: 8MiB", "set cache.max_bytes to at least 134221824 bytes"),
        ("type: token\n        url: http://127.0.0.1:9100/a\n        cache: { max_entries: 8 }", "max_entries is at least 16"),
    ])
    func mistakesAreReportedAtTheirKey(_ yaml: String, _ expected: String) {
        let indented = "    " + yaml
        let p = problems(indented)
        #expect(p.contains { $0.contains(expected) }, "\(p)")
        #expect(p.allSatisfy { $0.hasPrefix("t.yaml") })
    }

    @Test func emptyTokenSourceListIsReportedAtItsLine() {
        let p = problems("    type: token\n        url: http://127.0.0.1:9100/a\n        identity_source: []")
        // Line 6 of the file (the authorizer's keys start on line 4), with the fix.
        #expect(p.contains { $0.hasPrefix("t.yaml:6:") && $0.contains("authorizers.lab.identity_source") && $0.contains("like [header.Authorization]") }, "\(p)")
    }

    @Test func cacheBoundsThatLeaveEveryShardOneAnswerPass() throws {
        let least = ExternalAuthorizerConfig.Cache.leastBytes(maxAnswerBytes: 16 << 10)
        #expect(least == 16 * (16 * 1024 + 256))
        let e = try load("""
                type: token
                url: http://127.0.0.1:9100/a
                max_answer_size: 16KiB
                cache: { max_bytes: \(least), max_entries: 16 }
            """)
        #expect(e.cache.maxBytes == least && e.cache.maxEntries == 16)
        #expect(!problems("    type: token\n        url: http://127.0.0.1:9100/a\n        max_answer_size: 16KiB\n        cache: { max_bytes: \(least - 1) }").isEmpty)
        // No cache, no bound to share out.
        #expect(problems("    type: token\n        url: http://127.0.0.1:9100/a\n        cache: { ttl: 0s, max_bytes: 64KiB }").isEmpty)
    }

    @Test func simpleResponsesIsOptIn() throws {
        #expect(try !load("    type: request\n        url: http://127.0.0.1:9100/a\n        identity_source: header.A").simpleResponses)
        let e = try load("    type: request\n        url: http://127.0.0.1:9100/a\n        identity_source: header.A\n        simple_responses: true")
        #expect(e.simpleResponses)
        #expect(e.description.contains("simple=true"))
    }

    @Test func ttlZeroWarnsOfSettingsWithoutEffect() throws {
        let c = try ConfigLoader.parse(config("""
                type: token
                url: http://127.0.0.1:9100/a
                cache: { ttl: 0s, deny_ttl: 10s, refresh_ahead: 5s }
                stale_if_error: 60s
            """), file: "t.yaml")
        let w = c.warnings.map(\.description)
        for key in ["cache.deny_ttl", "cache.refresh_ahead", "stale_if_error"] {
            #expect(w.contains { $0.contains("authorizers.lab.\(key)") && $0.contains("no effect") }, "\(key): \(w)")
        }
        #expect(w.count == 3)
        // With a ttl they act: no warnings.
        let on = try ConfigLoader.parse(config("""
                type: token
                url: http://127.0.0.1:9100/a
                cache: { ttl: 60s, deny_ttl: 10s, refresh_ahead: 5s }
                stale_if_error: 60s
            """), file: "t.yaml")
        #expect(on.warnings.isEmpty)
    }

    @Test func rewrittenCAFileChangesTheFingerprint() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-ca-\(UUID().uuidString).pem").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let yaml = "    type: token\n        url: https://auth.example.com/a\n        ca_file: \(path)"
        try "-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----\n".write(toFile: path, atomically: true, encoding: .utf8)
        let before = try load(yaml)
        #expect(try load(yaml).description == before.description)
        // Same path, rotated contents: the reload must see a change (and build a new TLS client).
        try "-----BEGIN CERTIFICATE-----\nnew\n-----END CERTIFICATE-----\n".write(toFile: path, atomically: true, encoding: .utf8)
        let after = try load(yaml)
        #expect(after.caFile == before.caFile)
        #expect(after.description != before.description)
    }

    @Test func ttlZeroAllowsARequestAuthorizerWithoutSources() throws {
        let e = try load("""
                type: request
                url: http://127.0.0.1:9100/a
                cache: { ttl: 0s }
            """)
        #expect(e.identitySources.isEmpty)
        #expect(e.cache.ttl == .zero)
    }

    @Test func changedSettingsChangeTheFingerprint() throws {
        let a = try load("    type: token\n        url: http://127.0.0.1:9100/a")
        let b = try load("    type: token\n        url: http://127.0.0.1:9100/a\n        cache: { ttl: 60s }")
        #expect(a.description != b.description)
        #expect(a.description == (try load("    type: token\n        url: http://127.0.0.1:9100/a")).description)
    }
}
