import Foundation
import PortcullisCore
import Testing

@testable import PortcullisConfig

@Suite struct ConfigLoaderTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    let minimal = """
        listeners:
          - { name: public, listen: "127.0.0.1:0" }
        apis:
          - name: demo
            stage: demo
            routes:
              - { path: /public, methods: [GET], upstream: backend }
        upstreams:
          backend: { endpoints: ["http://127.0.0.1:9001"] }
        """

    func issues(_ yaml: String, env: [String: String] = [:]) -> [ConfigIssue] {
        do {
            _ = try ConfigLoader.parse(yaml, file: "test.yaml", environment: env)
            return []
        } catch {
            return error.issues
        }
    }

    @Test func loadsMinimalConfigWithDefaults() throws {
        let c = try ConfigLoader.parse(minimal, file: "t.yaml")
        #expect(c.listeners == [ListenerConfig(name: "public", host: "127.0.0.1", port: 0, isPrivate: false, vpce: nil, tls: nil)])
        #expect(c.limits.maxHeadBytes == 16 * 1024)
        #expect(c.limits.maxBodyBytes == 10 * 1024 * 1024)
        #expect(c.upstreams["backend"]?.timeout == .seconds(29))
        #expect(c.apis[0].routes[0].methods == .only(["GET"]))
        #expect(c.apis[0].notFound == .rest)
    }

    /// The reload log line's summary: parts added, removed and changed, routes counted; layout
    /// and comments do not count as changes.
    @Test func reloadSummaryNamesWhatChanged() throws {
        let a = try ConfigLoader.parse(minimal, file: "t.yaml")
        let relaid = try ConfigLoader.parse(minimal.replacingOccurrences(of: "stage: demo", with: "stage:    demo   # the same") + "\n# comment\n", file: "t.yaml")
        #expect(ConfigDiff.summary(from: a, to: relaid) == "nothing changed")
        let b = try ConfigLoader.parse("""
            listeners:
              - { name: public, listen: "127.0.0.1:0" }
              - { name: other, listen: "127.0.0.1:0" }
            apis:
              - name: demo
                stage: demo
                routes:
                  - { path: /public, methods: [GET, POST], upstream: backend }
                  - { path: /more, methods: [GET], upstream: backend }
              - name: shop
                stage: shop
                routes: [{ path: /cart, upstream: backend }]
            upstreams:
              backend: { endpoints: ["http://127.0.0.1:9001"] }
            """, file: "t.yaml")
        #expect(ConfigDiff.summary(from: a, to: b) == "apis +shop ~demo; listeners +other; routes 1 -> 3")
        #expect(ConfigDiff.summary(from: b, to: a) == "apis -shop ~demo; listeners -other; routes 3 -> 1")
        // A key disabled (in the file or a key file), a setting changed: named, not "nothing".
        let keyed = minimal + "\napi_keys: { keys: [{ id: k1, value: key-value-one-0123456789 }] }\naccess_log: stdout\n"
        let k1 = try ConfigLoader.parse(keyed, file: "t.yaml")
        let k2 = try ConfigLoader.parse(
            keyed.replacingOccurrences(of: "id: k1,", with: "id: k1, enabled: false,").replacingOccurrences(of: "access_log: stdout", with: "access_log: { sample: 0.5 }"),
            file: "t.yaml")
        #expect(ConfigDiff.summary(from: k1, to: k2) == "keys ~k1; settings ~access_log")
    }

    /// `admin:`: defaults, and a listener reachable from other hosts only with a token.
    @Test func adminListener() throws {
        #expect(try ConfigLoader.parse(minimal, file: "t.yaml").admin == nil)
        let d = try #require(try ConfigLoader.parse(minimal + "\nadmin: {}\n", file: "t.yaml").admin)
        #expect(d.host == "127.0.0.1" && d.port == 9901 && d.token == nil)
        let t = try #require(try ConfigLoader.parse(minimal + "\nadmin: { listen: \"0.0.0.0:9902\", token: \"${T}\" }\n", file: "t.yaml", environment: ["T": "abcdefghijklmnopqrstuvwx"]).admin)
        #expect(t.host == "0.0.0.0" && t.port == 9902 && t.token == "abcdefghijklmnopqrstuvwx")
        #expect(issues(minimal + "\nadmin: { token: short }\n").map(\.description) == [
            "test.yaml:10:17: admin.token: the token has 5 characters; use at least 16 random ones (openssl rand -hex 24), or ${ENV_VAR}, or remove it on a loopback listener"
        ])
        #expect(throws: ConfigError.self) { try ConfigLoader.parse(minimal + "\nadmin: { listen: \"0.0.0.0:9901\" }\n", file: "t.yaml") }
        do { _ = try ConfigLoader.parse(minimal + "\nadmin: { listen: \"0.0.0.0:9901\" }\n", file: "t.yaml") } catch {
            #expect("\(error)".contains("admin.token: the admin listener on 0.0.0.0 is reachable from other hosts"), "\(error)")
        }
    }

    /// `pid_file` is resolved against the config file's folder, like every path in it.
    @Test func pidFileIsRelativeToTheConfig() throws {
        #expect(try ConfigLoader.parse(minimal, file: "/etc/portcullis/p.yaml").pidFile == nil)
        #expect(try ConfigLoader.parse(minimal + "\npid_file: run/portcullis.pid\n", file: "/etc/portcullis/p.yaml").pidFile == "/etc/portcullis/run/portcullis.pid")
        #expect(try ConfigLoader.parse(minimal + "\npid_file: /run/portcullis.pid\n", file: "/etc/portcullis/p.yaml").pidFile == "/run/portcullis.pid")
    }

    /// `access_log` as a word, a path, or `{ path, sample }`; a route's `access_log_sample`.
    @Test func accessLogSampleRates() throws {
        let plain = try ConfigLoader.parse(minimal, file: "/etc/p/p.yaml")
        #expect(plain.accessLog == .stdout && plain.accessLogSample == 1 && plain.apis[0].routes[0].accessLogSample == nil)
        let sampled = try ConfigLoader.parse(minimal + "\naccess_log: { path: access.log, sample: 0.25 }\n", file: "/tmp/p.yaml")
        #expect(sampled.accessLog == .file("/tmp/access.log") && sampled.accessLogSample == 0.25)
        let route = try ConfigLoader.parse(
            minimal.replacingOccurrences(of: "upstream: backend }", with: "upstream: backend, access_log_sample: 1% }"), file: "t.yaml")
        #expect(route.apis[0].routes[0].accessLogSample == 0.01)
        #expect(issues(minimal + "\naccess_log: { sample: 2 }\n").map(\.description) == [
            #"test.yaml:10:23: access_log.sample: a sample rate is a number from 0 to 1 (0.01 logs one request in a hundred) or a percentage like 1%; got "2""#
        ])
    }

    /// `check` finds what would stop `run` at start: an access log that cannot be written, an admin
    /// listener on a traffic listener's port.
    @Test func startFailuresAreConfigErrors() {
        let missing = issues(minimal + "\naccess_log: /nonexistent-portcullis-dir/access.log\n")
        #expect(missing.map(\.keyPath) == ["access_log"])
        #expect(missing.first?.message.contains("does not exist") == true, "\(missing)")
        let collide = issues(minimal.replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:18999") + "\nadmin: { listen: \"0.0.0.0:18999\", token: abcdefghijklmnopqrstuvwx }\n")
        #expect(collide.map(\.keyPath) == ["admin.listen"])
        #expect(collide.first?.message.contains("also listener public") == true, "\(collide)")
    }

    @Test func headerLineLimitDefaultsTo8KiBAndIsValidated() throws {
        #expect(try ConfigLoader.parse(minimal, file: "t.yaml").limits.maxHeaderLineBytes == 8192)
        let set = try ConfigLoader.parse(minimal + "\nlimits: { max_header_line_bytes: 4KiB }\n", file: "t.yaml")
        #expect(set.limits.maxHeaderLineBytes == 4096)
        let plain = try ConfigLoader.parse(minimal + "\nlimits: { max_header_line_bytes: 1000 }\n", file: "t.yaml")
        #expect(plain.limits.maxHeaderLineBytes == 1000)

        let tooSmall = issues(minimal + "\nlimits: { max_header_line_bytes: 100 }\n")
        #expect(tooSmall.map(\.description) == ["test.yaml:10:34: limits.max_header_line_bytes: must be at least 256 bytes"])
        let notASize = issues(minimal + "\nlimits:\n  max_header_line_bytes: long\n")
        #expect(notASize.map(\.description) == [
            #"test.yaml:11:26: limits.max_header_line_bytes: invalid size "long"; write it like 16KiB, 10MiB or 1GiB"#
        ])
    }

    @Test func typoInUpstreamNamesFileLineColumnKeyAndFix() {
        let yaml = minimal.replacingOccurrences(of: "upstream: backend }", with: "upstream: backnd }")
        let found = issues(yaml)
        #expect(found.count == 1)
        let i = found[0]
        #expect(i.line == 7 && i.column == 52)
        #expect(i.keyPath == "apis[0].routes[0].upstream")
        #expect(i.description == #"test.yaml:7:52: apis[0].routes[0].upstream: unknown upstream "backnd"; did you mean "backend"?"#)
    }

    @Test func unknownKeysAreErrorsWithSuggestions() {
        let found = issues(minimal + "\nlimts: { max_headers: 10 }\n")
        #expect(found.map(\.description) == [#"test.yaml:10:1: limts: unknown key "limts"; did you mean "limits"?"#])
        let route = issues(minimal.replacingOccurrences(of: "methods: [GET]", with: "method: [GET]"))
        #expect(route.first?.message == #"unknown key "method"; did you mean "methods"?"#)
    }

    @Test func reportsEveryProblemAtOnce() {
        let yaml = """
            listeners:
              - { name: public, listen: "nowhere" }
            limits: { max_body_size: lots, header_timeout: soon }
            apis:
              - name: demo
                routes:
                  - { path: "items/{id", upstream: nope }
            upstreams:
              backend: { endpoints: ["ftp://x"] }
            """
        let found = issues(yaml)
        let messages = found.map(\.keyPath)
        #expect(messages.contains("listeners[0].listen"))
        #expect(messages.contains("limits.max_body_size"))
        #expect(messages.contains("limits.header_timeout"))
        #expect(messages.contains("apis[0].routes[0].path"))
        #expect(messages.contains("apis[0].routes[0].upstream"))
        #expect(messages.contains("upstreams.backend.endpoints[0]"))
        #expect(found.count >= 6)
    }

    @Test func expandsEnvironmentVariables() throws {
        let yaml = minimal.replacingOccurrences(of: "127.0.0.1:9001", with: "127.0.0.1:${PORT}")
        let c = try ConfigLoader.parse(yaml, file: "t.yaml", environment: ["PORT": "9555"])
        #expect(c.upstreams["backend"]?.endpoints.first?.port == 9555)
        let missing = issues(yaml)
        #expect(missing.first?.message == "environment variable PORT is not set; export it or remove ${PORT}")
    }

    @Test func durationsAndSizes() {
        #expect(YAMLReader.parseDuration("250ms") == .milliseconds(250))
        #expect(YAMLReader.parseDuration("10s") == .seconds(10))
        #expect(YAMLReader.parseDuration("2m") == .seconds(120))
        #expect(YAMLReader.parseDuration("1.5") == .milliseconds(1500))
        #expect(YAMLReader.parseDuration("soon") == nil)
        #expect(YAMLReader.parseSize("16KiB") == 16384)
        #expect(YAMLReader.parseSize("10MiB") == 10_485_760)
        #expect(YAMLReader.parseSize("2GiB") == 2_147_483_648)
        #expect(YAMLReader.parseSize("512") == 512)
        #expect(YAMLReader.parseSize("-1") == nil)
    }

    @Test func authListsAndAuthorizers() throws {
        let yaml = minimal.replacingOccurrences(
            of: "upstream: backend }", with: "upstream: backend, auth: [office, {any_of: [office, none]}] }")
            + "\nauthorizers:\n  office: { type: ip, allow: [10.0.0.0/8, \"2001:db8::/32\"], deny: [10.9.0.0/16] }\n"
        let c = try ConfigLoader.parse(yaml, file: "t.yaml")
        #expect(c.apis[0].routes[0].auth == [.step("office"), .none])
        guard case .ip(let allow, let deny) = c.authorizers["office"]?.kind else {
            Issue.record("ip authorizer not parsed")
            return
        }
        #expect(allow.count == 2 && deny == [CIDR("10.9.0.0/16")!])
        let bad = issues(minimal.replacingOccurrences(of: "upstream: backend }", with: "upstream: backend, auth: [ofice] }")
            + "\nauthorizers:\n  office: { type: ip, allow: [10.0.0.0/33] }\n")
        #expect(bad.map(\.message).contains(#"unknown authorizer "ofice"; did you mean "office"?"#))
        #expect(bad.contains { $0.keyPath == "authorizers.office.allow[0]" })
    }

    @Test func yamlSyntaxErrorsCarryPosition() {
        let found = issues("listeners:\n  - { name: a\n")
        #expect(found.count == 1)
        #expect(found[0].line > 0)
        #expect(found[0].message.hasPrefix("YAML syntax"))
    }

    @Test func everyExampleConfigLoads() throws {
        let dir = Self.repoRoot.appendingPathComponent("config")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }
        #expect(!files.isEmpty)
        for f in files {
            let path = dir.appendingPathComponent(f).path
            #expect(throws: Never.self, "\(f)") { try ConfigLoader.load(path: path, environment: ["BACKEND_PORT": "9001"]) }
        }
    }
}
