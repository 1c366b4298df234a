import Foundation
import PortcullisAuth
import PortcullisConfig
import PortcullisCore
import PortcullisThrottle
import PortcullisTLS
import Testing

@testable import PortcullisProxy

/// `portcullis explain` against the real gateway: the workshop's examples in config/ are loaded as
/// shipped (ports chosen by the kernel, the test's echo upstream), each request is explained
/// in-process and sent to a server started in-process, and both must give the same answer:
/// admitted, or the same status, gateway response type and body.
@Suite struct ExplainTests {
    /// An example as the tests run it, with its files by absolute path.
    static func example(_ name: String, edit: (String) -> String = { $0 }) throws -> String {
        try ResourcePolicyProxyTests.example(name) { yaml in
            edit(yaml.replacingOccurrences(of: " keys/", with: " \(ResourcePolicyProxyTests.configDir.path)/keys/"))
        }
    }

    struct Case {
        var method = "GET"
        var path: String
        var headers: [(String, String)] = []
        var listener: String? = nil
        var online = false
        var body: String? = nil
        /// What both must answer: nil for admitted (the echo's 200), else the gateway response type.
        var refusal: GatewayResponseType? = nil
    }

    /// Explains `c` on the harness's config, sends it to the harness's server, and checks that
    /// both agree with each other and with `c.refusal`. Returns the explanation for further checks.
    @discardableResult
    func agree(_ h: Harness, _ c: Case, sourceLocation: SourceLocation = #_sourceLocation) throws -> Explanation {
        let config = try ConfigLoader.load(path: h.configPath, environment: h.env)
        let headers = [("Host", "x")] + c.headers + (c.body.map { [("Content-Length", "\($0.utf8.count)")] } ?? [])
        let explained = try Explainer.explain(
            config, ExplainRequest(method: c.method, url: c.path, headers: headers, listener: c.listener, body: c.body.map { Array($0.utf8) }, online: c.online))

        let port = try #require(h.server.boundAddresses[c.listener ?? "public"]?.port, sourceLocation: sourceLocation)
        let conn = try RawConnection(port: port)
        var text = "\(c.method) \(c.path) HTTP/1.1\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        conn.send(text + "\r\n" + (c.body ?? ""))
        let served = try conn.readResponse()

        let what = "\(c.method) \(c.path): \(explained.text)"
        if let type = c.refusal {
            #expect(explained.verdict == .refused, "\(what)", sourceLocation: sourceLocation)
            #expect(explained.gatewayResponse == type.rawValue, "\(what)", sourceLocation: sourceLocation)
            #expect(served.status == explained.status, "\(what)", sourceLocation: sourceLocation)
            #expect(served.header("x-amzn-ErrorType") == explained.errorType, "\(what)", sourceLocation: sourceLocation)
            #expect(served.bodyText == explained.body, "\(what)", sourceLocation: sourceLocation)
            #expect(explained.exitCode == 1, sourceLocation: sourceLocation)
        } else {
            #expect(explained.verdict == .admitted, "\(what)", sourceLocation: sourceLocation)
            #expect(served.status == 200, "\(what): the server answered \(served.status) \(served.bodyText)", sourceLocation: sourceLocation)
            #expect(explained.exitCode == 0, sourceLocation: sourceLocation)
        }
        return explained
    }

    /// An HS256 token signed with the workshop's lab secret, as `portcullis token mint` makes one.
    static func labToken(_ claims: [String: JSONValue], secret: String = "lab") throws -> String {
        var bytes = [UInt8](try Data(contentsOf: ResourcePolicyProxyTests.configDir.appendingPathComponent("secrets/part4-lab.key")))
        if bytes.last == 10 { bytes.removeLast() }
        if secret != "lab" { bytes = Array(secret.utf8) }
        var payload: [String: JSONValue] = ["iss": .string("portcullis-lab"), "aud": .string("workshop"), "exp": .number(Date().timeIntervalSince1970.rounded() + 3600)]
        for (k, v) in claims { payload[k] = v }
        let header: JSONValue = .object(["alg": .string("HS256"), "typ": .string("JWT")])
        let input = Base64URL.encode(Array(header.serialized.utf8)) + "." + Base64URL.encode(Array(JSONValue.object(payload).serialized.utf8))
        return input + "." + Base64URL.encode(HMACKey(algorithm: .sha256, key: bytes).authenticationCode(for: Array(input.utf8)))
    }

    @Test func mainExample() async throws {
        let certs = try TLSProxyTests.makeCerts()
        defer { try? FileManager.default.removeItem(at: certs) }
        let yaml = try Self.example("portcullis.yaml") {
            $0.replacingOccurrences(of: "../certs/", with: "\(certs.path)/").replacing(#/127\.0\.0\.1:84\d\d/#, with: "127.0.0.1:0")
        }
        let h = try await Harness(yaml)
        do {
            let open = try agree(h, Case(path: "/demo/public"))
            #expect(open.phases.isEmpty)
            #expect(open.addedHeaders.contains { $0.hasPrefix("X-Forwarded-For: 127.0.0.1") })
            let item = try agree(h, Case(path: "/demo/items/42"))
            #expect(item.route == "/items/{id}")
            #expect(item.parameters.first?.name == "id" && item.parameters.first?.value == "42")
            #expect(item.upstreamRequest.first == "GET /items/42 HTTP/1.1")
            let office = try agree(h, Case(path: "/demo/internal"))
            #expect(office.phases.map(\.decision) == ["pass"])
            #expect(office.phases[0].detail.contains("matched allow 127.0.0.0/8"))
            let denied = try agree(h, Case(path: "/demo/internal", headers: [("X-Forwarded-For", "192.0.2.7")], refusal: .ACCESS_DENIED))
            #expect(denied.phases.first?.decision == "refuse")
            #expect(denied.reason?.contains("deny list of office-only") == true)
            // DEFAULT_4XX adds a header to every 4xx gateway response: the same renderer says so.
            #expect(denied.responseHeaders.contains { $0.0 == "Access-Control-Allow-Origin" && $0.1 == "*" })
            try agree(h, Case(path: "/demo/nothing", refusal: .MISSING_AUTHENTICATION_TOKEN))
            try agree(h, Case(method: "POST", path: "/demo/items/42", headers: [("Content-Length", "0")], refusal: .MISSING_AUTHENTICATION_TOKEN))
            try agree(h, Case(path: "/demo/files/a/../b", refusal: .BAD_REQUEST))
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }

    @Test func apiKeysThrottlesAndQuotas() async throws {
        let h = try await Harness(try Self.example("part3-api-keys.yaml"))
        do {
            try agree(h, Case(path: "/demo/items/7", refusal: .INVALID_API_KEY))
            try agree(h, Case(path: "/demo/items/7", headers: [("x-api-key", "nope-0123456789abcdefghij")], refusal: .INVALID_API_KEY))
            let ok = try agree(h, Case(path: "/demo/items/7", headers: [("x-api-key", "workshop-demo-key-0123456789abcdefghij")]))
            #expect(ok.phases.map(\.title) == ["api key", "throttle", "quota"])
            #expect(ok.phases[0].detail.contains("key wk0demo001") && ok.phases[0].detail.contains("usage plan basic"))
            #expect(ok.phases[1].detail.contains("plan basic GET 10/10 tokens at 1/s"))
            #expect(ok.phases[1].detail.contains("stage:demo 1000/1000 tokens"))
            #expect(ok.phases[2].detail.contains("used 0 of 1000 per DAY"))
            let search = try agree(h, Case(path: "/demo/search", headers: [("X-Forwarded-For", "198.51.100.9")]))
            #expect(search.phases.first?.detail.contains("route per client_ip 198.51.100.9 100/100") == true)
            try agree(h, Case(path: "/demo/health"))
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }

    /// The quota as the state store has counted it: a key whose day is spent is refused by
    /// explain and by a server seeded from the same store.
    @Test func quotaFromTheStateStore() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-explain-state-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: state) }
        let store = try SQLiteQuotaStore(path: state.appendingPathComponent("quota.sqlite").path)
        let today = QuotaPeriod.DAY.start(of: Int64(Date().timeIntervalSince1970))
        try store.add([QuotaDelta(counter: "quota:basic:key:wk0demo001", day: today, count: 1000)])
        let h = try await Harness(try Self.example("part3-api-keys.yaml") { "state_dir: \(state.path)\n" + $0 })
        do {
            let spent = try agree(h, Case(path: "/demo/items/7", headers: [("x-api-key", "workshop-demo-key-0123456789abcdefghij")], refusal: .QUOTA_EXCEEDED))
            #expect(spent.phases.map(\.decision) == ["pass", "pass", "refuse"])
            #expect(spent.phases[2].detail.contains("used 1000 of 1000 per DAY (0 left)"))
            #expect(spent.responseHeaders.contains { $0.0 == "Retry-After" })
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }

    @Test func customTokens() async throws {
        let h = try await Harness(try Self.example("part4-custom-token.yaml"))
        do {
            let viewer = try Self.labToken(["sub": .string("alice"), "role": .string("viewer")])
            let admin = try Self.labToken(["sub": .string("ana"), "role": .string("admin")])
            let forged = try Self.labToken(["sub": .string("eve"), "role": .string("admin")], secret: "not-the-lab-secret-0123456789abcdef")
            let ok = try agree(h, Case(path: "/lab/custom", headers: [("Authorization", "Bearer \(viewer)")]))
            #expect(ok.phases.first?.detail.contains("principal alice (jwt lab-token)") == true)
            #expect(ok.addedHeaders.contains("X-User-Id: alice") && ok.addedHeaders.contains("X-User-Role: viewer"))
            try agree(h, Case(path: "/lab/custom", refusal: .UNAUTHORIZED))
            try agree(h, Case(path: "/lab/custom", headers: [("Authorization", "Bearer \(forged)")], refusal: .UNAUTHORIZED))
            let claim = try agree(h, Case(path: "/lab/custom/admin", headers: [("Authorization", "Bearer \(viewer)")], refusal: .FORBIDDEN))
            #expect(claim.reason?.contains("role one of admin, owner") == true)
            try agree(h, Case(method: "DELETE", path: "/lab/custom/admin", headers: [("Authorization", "Bearer \(admin)")]))
            let cookie = try agree(h, Case(path: "/lab/page", headers: [("Cookie", "lab_token=\(viewer)")]))
            #expect(cookie.phases.first?.detail.hasPrefix("lab-cookie allowed") == true)
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }

    @Test func resourcePolicyBySourceIP() async throws {
        let h = try await Harness(try Self.example("part5-policy-source-ip.yaml"))
        do {
            let ok = try agree(h, Case(path: "/demo/pets"))
            #expect(ok.phases.first?.detail.contains("allowed by statement 1 \"AllowFromTheOfficeOnly\"") == true)
            #expect(ok.phases.first?.detail.contains("allow-source-ip.json:") == true)
            let outside = try agree(h, Case(path: "/demo/pets", headers: [("X-Forwarded-For", "203.0.113.7")], refusal: .ACCESS_DENIED))
            #expect(outside.phases.first?.detail.contains("implicit deny") == true)
            #expect(outside.client.hasPrefix("203.0.113.7"))
            try agree(h, Case(method: "PUT", path: "/demo/pets/7", headers: [("X-Forwarded-For", "192.0.2.44"), ("Content-Length", "0")]))
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }

    /// SigV4 with a body (`--data`): the body's hash is what the signature covers, as the
    /// connection hashes a buffered body; identity and resource policies name their statements.
    @Test func sigV4WithBodyAndPolicies() async throws {
        let h = try await Harness(try Self.example("part5-policy-source-vpc-iam.yaml"))
        do {
            func signed(_ key: String, _ secret: String, _ method: String, _ path: String, body: String = "") -> [(String, String)] {
                SigV4Signer(accessKeyID: key, secret: secret, region: "eu-west-1")
                    .headers(for: .init(method: method, host: "x", target: path, body: Array(body.utf8)), time: Int64(Date().timeIntervalSince1970))
            }
            let alice = signed("AKIAPORTCULLISALICE1", "alice-demo-secret-0123456789abcdefghij", "POST", "/demo/pets", body: #"{"n":1}"#)
            let ok = try agree(h, Case(method: "POST", path: "/demo/pets", headers: alice, listener: "vpc", body: #"{"n":1}"#))
            #expect(ok.phases.map(\.decision) == ["pass", "pass"])
            #expect(ok.phases[1].detail.contains("alice.json:"))
            #expect(ok.phases[1].detail.contains("\"AllowFromOurVPC\""))
            #expect(ok.removedHeaders.contains("Authorization"))
            try agree(h, Case(method: "POST", path: "/demo/pets", headers: alice, listener: "vpc", body: #"{"n":2}"#, refusal: .INVALID_SIGNATURE))
            let bob = signed("AKIAPORTCULLISBOB001", "bob-demo-secret-0123456789abcdefghijkl", "GET", "/demo/pets")
            try agree(h, Case(path: "/demo/pets", headers: bob, listener: "vpc"))
            try agree(h, Case(path: "/demo/pets", headers: bob, refusal: .ACCESS_DENIED))
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }

    /// The Cognito example with the lab's HS256 key in place of the user pool (no network in
    /// tests): the resource policy's explicit Deny on DELETE for callers outside the admin group.
    @Test func resourcePolicyWithTokenClaims() async throws {
        let yaml = try Self.example("part5-policy-source-ip-cognito.yaml") {
            $0.replacingOccurrences(of: "issuer: https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123", with: """
                algorithms: [HS256]
                    secret_file: \(ResourcePolicyProxyTests.configDir.path)/secrets/part4-lab.key
                    issuer: portcullis-lab
                """).replacingOccurrences(of: "audiences: [1example23456789clientid]", with: "audiences: [workshop]")
                .replacing(#/\n *jwks_file: [^\n]*/#, with: "")
                .replacingOccurrences(of: "token_use: [id, access]", with: "")
        }
        let h = try await Harness(yaml)
        do {
            let member = try Self.labToken(["sub": .string("bo"), "cognito:groups": .array([.string("staff")])])
            let admin = try Self.labToken(["sub": .string("ana"), "cognito:groups": .array([.string("admin")])])
            try agree(h, Case(path: "/demo/items/1", headers: [("Authorization", "Bearer \(member)")]))
            let denied = try agree(h, Case(method: "DELETE", path: "/demo/items/1", headers: [("Authorization", "Bearer \(member)")], refusal: .ACCESS_DENIED))
            #expect(denied.phases.map(\.decision) == ["pass", "refuse"])
            #expect(denied.phases[1].detail.contains("explicitly denied by statement 2 \"OnlyAdminsDelete\""))
            #expect(denied.body?.hasSuffix("with an explicit deny\"}") == true)
            try agree(h, Case(method: "DELETE", path: "/demo/items/1", headers: [("Authorization", "Bearer \(admin)")]))
            try agree(h, Case(path: "/demo/items/1", headers: [("Authorization", "Bearer \(member)"), ("X-Forwarded-For", "203.0.113.7")], refusal: .ACCESS_DENIED))
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }

    @Test func privateAPI() async throws {
        let h = try await Harness(try Self.example("private-api.yaml") { $0.replacingOccurrences(of: "127.0.0.1:8090", with: "127.0.0.1:0") })
        do {
            let outside = try agree(h, Case(path: "/internal/reports", refusal: .FORBIDDEN))
            #expect(outside.phases.first?.title == "private endpoint")
            let inside = try agree(h, Case(path: "/internal/reports", listener: "vpc"))
            #expect(inside.phases.first?.detail == "listener vpc is private")
            try agree(h, Case(path: "/public/status"))
            try agree(h, Case(path: "/public/status", listener: "vpc"))
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }

    /// An external authorizer is called only online: offline the request is undecided and nothing
    /// is called; online explain calls it and agrees with the server on its answers.
    @Test func externalAuthorizerOnline() async throws {
        let authz = try CountingAuthorizer { _, event, _ in
            let token = event["authorizationToken"] as? String ?? ""
            if token.hasSuffix("deny") { return .json(status: 200, body: CountingAuthorizer.policy("mallory", effect: "Deny")) }
            if token.hasSuffix("nobody") { return .json(status: 401, body: #"{"message":"Unauthorized"}"#) }
            return .json(status: 200, body: CountingAuthorizer.policy("alice", context: #"{"role":"admin"}"#))
        }
        defer { authz.stop() }
        let h = try await Harness(try Self.example("part4-lambda-authorizer.yaml") {
            $0.replacingOccurrences(of: "http://127.0.0.1:9100/authorize", with: authz.url)
        })
        do {
            let config = try ConfigLoader.load(path: h.configPath, environment: h.env)
            let offline = try Explainer.explain(config, ExplainRequest(method: "GET", url: "/lab/custom", headers: [("Authorization", "Bearer alice")]))
            #expect(offline.verdict == .undecidedOffline)
            #expect(offline.wouldCall?.contains(authz.url) == true)
            #expect(authz.totalCalls == 0)
            let ok = try agree(h, Case(path: "/lab/custom", headers: [("Authorization", "Bearer alice")], online: true))
            #expect(ok.phases.first?.detail.contains("principal alice (external lab-lambda)") == true)
            #expect(ok.addedHeaders.contains("X-User-Id: alice") && ok.addedHeaders.contains("X-User-Role: admin"))
            try agree(h, Case(path: "/lab/custom", headers: [("Authorization", "Bearer deny")], online: true, refusal: .ACCESS_DENIED))
            try agree(h, Case(path: "/lab/custom", headers: [("Authorization", "Bearer nobody")], online: true, refusal: .UNAUTHORIZED))
            // Decided before any call, so offline too: no token, and a token the validation refuses.
            try agree(h, Case(path: "/lab/custom", refusal: .UNAUTHORIZED))
            try agree(h, Case(path: "/lab/custom", headers: [("Authorization", "Basic x")], refusal: .UNAUTHORIZED))
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }

    /// A remote key set is not fetched offline: a request with a token that needs the keys is
    /// undecided (exit 3); one without a token, or with one refused before any key is looked up
    /// (an algorithm the authorizer does not take), is decided.
    @Test func remoteKeySetIsUndecidedOffline() throws {
        let config = try ConfigLoader.load(path: ResourcePolicyProxyTests.configDir.appendingPathComponent("part1-cognito.yaml").path)
        // {"alg":"RS256","kid":"k1"}.{"sub":"x"}: the signature is never checked offline.
        let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4In0.c2ln"
        let undecided = try Explainer.explain(config, ExplainRequest(method: "GET", url: "/demo/profile", headers: [("Authorization", "Bearer \(token)")]))
        #expect(undecided.verdict == .undecidedOffline)
        #expect(undecided.exitCode == 3)
        #expect(undecided.wouldCall?.contains("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123") == true)
        #expect(undecided.phases.first?.decision == "undecided")
        let missing = try Explainer.explain(config, ExplainRequest(method: "GET", url: "http://localhost:8080/demo/profile"))
        #expect(missing.verdict == .refused)
        #expect(missing.gatewayResponse == "UNAUTHORIZED")
        let hs256 = try Explainer.explain(config, ExplainRequest(method: "GET", url: "/demo/profile", headers: [("Authorization", "Bearer \(try Self.labToken([:]))")]))
        #expect(hs256.verdict == .refused)
        #expect(hs256.status == 401)
    }

    /// Without a listener named, the URL's port picks the one the request would arrive on (the
    /// workshop calls 8090 for the VPC endpoint, which is not the file's first listener); a path,
    /// or a port no listener has, arrives on the first. Before, every such request was explained
    /// as arriving on the first listener: refused where the server admits.
    @Test func listenerFromTheURLsPort() throws {
        let config = try ConfigLoader.load(path: ResourcePolicyProxyTests.configDir.appendingPathComponent("private-api.yaml").path)
        func explain(_ url: String, listener: String? = nil) throws -> Explanation {
            try Explainer.explain(config, ExplainRequest(method: "GET", url: url, listener: listener))
        }
        let inside = try explain("http://private.localhost:8090/internal/reports")
        #expect(inside.listener == "vpc")
        #expect(inside.verdict == .admitted)
        let outside = try explain("http://private.localhost:8080/internal/reports")
        #expect(outside.listener == "public")
        #expect(outside.gatewayResponse == "FORBIDDEN")
        for url in ["/internal/reports", "http://private.localhost:9999/internal/reports", "http://private.localhost/internal/reports"] {
            #expect(try explain(url).listener == "public", "\(url)")
        }
        #expect(try explain("http://private.localhost:8080/internal/reports", listener: "vpc").listener == "vpc")

        let v6 = Explainer.authority(of: "https://[::1]/x")
        #expect(v6?.host == "::1" && v6?.port == 443)
        let v6Port = Explainer.authority(of: "http://[::1]:8090?x=1")
        #expect(v6Port?.host == "::1" && v6Port?.port == 8090)
        #expect(Explainer.authority(of: "/internal/reports") == nil)
    }
}
