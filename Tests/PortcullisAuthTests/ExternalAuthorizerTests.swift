import Logging
import NIOCore
import NIOEmbedded
import PortcullisConfig
import PortcullisCore
import PortcullisPolicy
import PortcullisTLS
import Testing

@testable import PortcullisAuth

/// The external authorizer without a network: identity sources, the validation expression, the
/// events it would send, and decisions from answers put in its cache by hand (a seeded cache is
/// what a hit sees). Calls it would make fail with AUTHORIZER_FAILURE here (no client), which
/// tells a call from no call.
@Suite struct ExternalAuthorizerTests {
    static let clock = ManualClock(1_800_000_000)

    static func authorizer(_ kind: ExternalAuthorizerConfig.Kind = .token, _ edit: (inout ExternalAuthorizerConfig) -> Void = { _ in })
        -> ExternalAuthorizer
    {
        var c = ExternalAuthorizerConfig(
            name: "lab", kind: kind, url: "http://127.0.0.1:1/authorize", identitySources: [.header("authorization")])
        edit(&c)
        return ExternalAuthorizer(config: c, client: nil, clock: clock.clock, logger: Logger(label: "test"))
    }

    static func answer(_ json: String) -> AuthorizerAnswer {
        try! AuthorizerAnswer.parse(Array(json.utf8), authorizer: "lab", simpleResponses: true).get()
    }

    static func policy(_ effect: String, _ resource: String, context: String = "{}") -> AuthorizerAnswer {
        answer(#"{"principalId":"alice","context":\#(context),"policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"\#(effect)","Resource":"\#(resource)"}]}}"#)
    }

    static let arnPrefix = "arn:aws:execute-api:eu-west-1:123456789012:abc/demo/"

    /// The cache key of identity values on the fixtures' API (`abc`, stage `demo`).
    static func key(_ values: String...) -> AuthorizerCache.Key {
        ExternalAuthorizer.cacheKey(apiID: "abc", stage: "demo", values: values)
    }

    func decide(_ a: ExternalAuthorizer, _ r: AuthRequest, route: RouteAuthPolicy = .none) throws -> AuthDecision {
        let loop = EmbeddedEventLoop()
        switch a.evaluate(r, route: route, on: loop) {
        case .now(let d): return d
        case .later(let f):
            loop.run()
            return try f.wait()
        }
    }

    /// Every part of a cache key is its length in bytes, a colon and the part, so two different
    /// lists of values never make one key (a value may hold any byte, NUL and colons included).
    @Test func cacheKeysArePrefixedByLength() {
        #expect(ExternalAuthorizer.cacheKey(apiID: "abc", stage: "demo", values: ["Bearer x"]) == "3:abc4:demo8:Bearer x")
        let long = String(repeating: "t", count: 1234)
        #expect(ExternalAuthorizer.cacheKey(apiID: "abc", stage: "", values: [long, "é:\u{0}"]).text == "3:abc0:1234:\(long)4:é:\u{0}")
        #expect(Self.key("a:1", "b") != Self.key("a", "1:b"))
        #expect(Self.key("ab", "") != Self.key("a", "b"))
        #expect(ExternalAuthorizer.cacheKey(apiID: "abc", stage: "demo", values: ["v"], methodARN: "arn") == "3:arn3:abc4:demo1:v")
    }

    /// API Gateway refuses a method ARN over 1,600 bytes with 414 before the authorizer is asked
    /// (and before a missing token would be 401). 1,600 bytes exactly still goes on.
    @Test func methodARNOver1600BytesIs414WithoutACall() throws {
        let prefix = Self.arnPrefix.utf8.count + "GET".utf8.count  // the path after the stage follows
        let fits = "/demo/" + String(repeating: "p", count: 1600 - prefix - 1)
        let over = fits + "q"
        let a = Self.authorizer()
        let long = try decide(a, JWTFixtures.request(target: over))
        #expect(long.refusal?.type == .REQUEST_URI_TOO_LONG)
        #expect(long.refusal?.type.defaultStatus == 414)
        #expect(!long.isAbstain)
        #expect(a.callsInFlight == 0)
        // At the limit, the usual path: no token, 401 without a call.
        let atLimit = try decide(a, JWTFixtures.request(target: fits))
        #expect(atLimit.refusal?.type == .UNAUTHORIZED)
        #expect(JWTFixtures.request(target: fits).methodARN.utf8.count == 1600)
    }

    @Test func missingTokenAbstainsWithoutACall() throws {
        let d = try decide(Self.authorizer(), JWTFixtures.request())
        #expect(d.isAbstain)
        #expect(d.refusal?.type == .UNAUTHORIZED)
    }

    @Test func validationMismatchIs401WithoutACall() throws {
        let a = Self.authorizer { $0.validation = "^Bearer [-0-9A-Za-z._~+/]+=*$" }
        let d = try decide(a, JWTFixtures.request([("Authorization", "Basic abc")]))
        #expect(!d.isAbstain)
        #expect(d.refusal?.type == .UNAUTHORIZED)
        // A matching token goes on to call (and fails here: no client).
        #expect(try decide(a, JWTFixtures.request([("Authorization", "Bearer abc")])).refusal?.type == .AUTHORIZER_FAILURE)
    }

    @Test func requestAuthorizerNeedsEverySource() throws {
        let a = Self.authorizer(.request) { $0.identitySources = [.header("x-tenant"), .query("q")] }
        #expect(try decide(a, JWTFixtures.request([("X-Tenant", "t1")])).isAbstain)
        #expect(try decide(a, JWTFixtures.request([("X-Tenant", "t1")], target: "/demo/x?q=")).isAbstain)
        #expect(try decide(a, JWTFixtures.request([("X-Tenant", "t1")], target: "/demo/x?q=1")).refusal?.type == .AUTHORIZER_FAILURE)
        #expect(a.identityKey(JWTFixtures.request([("X-Tenant", "t1")], target: "/demo/x?q=1"), .none) == Self.key("t1", "1"))
    }

    @Test func cachedPolicyIsEvaluatedAgainstEachMethodARN() throws {
        let a = Self.authorizer()
        // The well-known trap: the policy names only the first method it was asked for.
        a.cache!.store(key: Self.key("Bearer t"), answer: Self.policy("Allow", Self.arnPrefix + "GET/x"), now: Self.clock.now)
        let ok = try decide(a, JWTFixtures.request([("Authorization", "Bearer t")], target: "/demo/x"))
        #expect(ok.identity?.principal == "alice")
        #expect(ok.identity?.kind == .external)
        let other = try decide(a, JWTFixtures.request([("Authorization", "Bearer t")], target: "/demo/y"))
        #expect(other.refusal?.type == .ACCESS_DENIED)
        #expect(other.refusal?.message == "User is not authorized to access this resource")
        #expect(a.cache!.counters.hits == 2)
    }

    /// A reload makes new API objects; an answer compiled for the old one still decides right
    /// per method (and, for an Allow on `*`, as the constant) for the same API and stage. (The
    /// general evaluator would decide the same: this guards the decisions, not the speed.)
    @Test func compiledAnswersServeTheSameAPIAfterAReload() throws {
        func request(_ target: String, reloaded: Bool) -> AuthRequest {
            var r = JWTFixtures.request([("Authorization", "Bearer t")], target: target)
            if reloaded { r.api = .init(id: r.api.id, stage: r.api.stage, region: r.api.region, account: r.api.account) }
            return r
        }
        let a = Self.authorizer()
        #expect(a.remember(Self.policy("Allow", Self.arnPrefix + "GET/x"), for: request("/demo/x", reloaded: false)))
        #expect(try decide(a, request("/demo/x", reloaded: true)).isAllow)
        #expect(try decide(a, request("/demo/y", reloaded: true)).refusal?.type == .ACCESS_DENIED)
        let all = Self.authorizer()
        #expect(all.remember(Self.policy("Allow", "*"), for: request("/demo/x", reloaded: false)))
        #expect(try decide(all, request("/demo/y/z", reloaded: true)).isAllow)
        let none = Self.authorizer()
        #expect(none.remember(Self.policy("Deny", "*"), for: request("/demo/x", reloaded: false)))
        #expect(try decide(none, request("/demo/x", reloaded: true)).refusal?.message == "User is not authorized to access this resource with an explicit deny")
    }

    @Test func wildcardPolicyCoversEveryMethod() throws {
        let a = Self.authorizer()
        a.cache!.store(key: Self.key("Bearer t"), answer: Self.policy("Allow", Self.arnPrefix + "*"), now: Self.clock.now)
        #expect(try decide(a, JWTFixtures.request([("Authorization", "Bearer t")], target: "/demo/y/z")).isAllow)
    }

    @Test func explicitDenyHasAPIGatewaysMessage() throws {
        let a = Self.authorizer()
        a.cache!.store(key: Self.key("Bearer t"), answer: Self.policy("Deny", "*"), now: Self.clock.now)
        let d = try decide(a, JWTFixtures.request([("Authorization", "Bearer t")]))
        #expect(d.refusal?.type == .ACCESS_DENIED)
        #expect(d.refusal?.message == "User is not authorized to access this resource with an explicit deny")
    }

    @Test func simpleAnswers() throws {
        let a = Self.authorizer()
        a.cache!.store(key: Self.key("Bearer yes"), answer: Self.answer(#"{"isAuthorized":true,"context":{"k":"v"}}"#), now: Self.clock.now)
        a.cache!.store(key: Self.key("Bearer no"), answer: Self.answer(#"{"isAuthorized":false}"#), now: Self.clock.now)
        #expect(try decide(a, JWTFixtures.request([("Authorization", "Bearer yes")])).identity?.claims["k"] == "v")
        // HTTP APIs' deny: 403 {"message":"Forbidden"}, not ACCESS_DENIED's {"Message":...}.
        let no = try decide(a, JWTFixtures.request([("Authorization", "Bearer no")])).refusal
        #expect(no?.type == .FORBIDDEN)
        #expect(no?.message == "Forbidden")
        #expect(no?.type.defaultBody(message: no?.message) == #"{"message":"Forbidden"}"#)
    }

    @Test func cacheKeyNamesTheAPIAndStage() throws {
        // API Gateway keeps one cache per authorizer per stage: the same token on another API or
        // stage is another key.
        let a = Self.authorizer()
        func request(id: String, stage: String) -> AuthRequest {
            var r = JWTFixtures.request([("Authorization", "Bearer t")])
            r.api = .init(id: id, stage: stage, region: "eu-west-1", account: "123456789012")
            return r
        }
        let keys = Set([("abc", "demo"), ("abc", "prod"), ("xyz", "demo")].map { a.identityKey(request(id: $0.0, stage: $0.1), .none) })
        #expect(keys.count == 3)
        #expect(a.identityKey(request(id: "abc", stage: "demo"), .none) == Self.key("Bearer t"))
    }

    @Test func identityValuesCannotCollideAfterPercentDecoding() throws {
        // %00 decodes to NUL: joined by NUL, (x\0y, z) and (x, y\0z) were one key.
        let a = Self.authorizer(.request) { $0.identitySources = [.query("a"), .query("b")] }
        let one = a.identityKey(JWTFixtures.request(target: "/demo/x?a=x%00y&b=z"), .none)
        let two = a.identityKey(JWTFixtures.request(target: "/demo/x?a=x&b=y%00z"), .none)
        #expect(one != nil && two != nil)
        #expect(one != two)
    }

    @Test func noIdentitySourcesIsNoKeyAndEveryRequestCalls() throws {
        // Only a request authorizer with ttl 0s may have none (check refuses the rest).
        let a = Self.authorizer(.request) {
            $0.identitySources = []
            $0.cache.ttl = .zero
        }
        #expect(a.identityKey(JWTFixtures.request(), .none) == nil)
        #expect(a.cache == nil)
        // Nothing is absent: it calls (and fails here, no client), it does not abstain.
        #expect(try decide(a, JWTFixtures.request()).refusal?.type == .AUTHORIZER_FAILURE)
    }

    @Test func policyConditionsSeeTheContext() throws {
        let a = Self.authorizer()
        let doc = #"{"principalId":"p","context":{"tier":"gold"},"policyDocument":{"Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"*","Condition":{"StringEquals":{"context:tier":"gold"}}}]}}"#
        a.cache!.store(key: Self.key("Bearer t"), answer: Self.answer(doc), now: Self.clock.now)
        #expect(try decide(a, JWTFixtures.request([("Authorization", "Bearer t")])).isAllow)
    }

    @Test func resourcePolicyDenyComesBeforeTheCall() throws {
        let a = Self.authorizer()
        let resource = try PolicyDocument.parse(try JSONValue.parse(
            #"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":"\#(Self.arnPrefix)GET/blocked"},{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"\#(Self.arnPrefix)GET/open"}]}"#))
        let route = RouteAuthPolicy(resourcePolicy: resource)
        let blocked = try decide(a, JWTFixtures.request([("Authorization", "Bearer t")], target: "/demo/blocked"), route: route)
        #expect(blocked.refusal?.type == .ACCESS_DENIED)
        #expect(blocked.refusal?.message?.hasSuffix("with an explicit deny") == true)
        #expect(a.callsInFlight == 0)
        // Table A: the resource policy's Allow admits a caller whose own policy says nothing of it.
        a.cache!.store(key: Self.key("Bearer t"), answer: Self.policy("Allow", Self.arnPrefix + "GET/x"), now: Self.clock.now)
        #expect(try decide(a, JWTFixtures.request([("Authorization", "Bearer t")], target: "/demo/open"), route: route).isAllow)
        #expect(try decide(a, JWTFixtures.request([("Authorization", "Bearer t")], target: "/demo/other"), route: route).refusal?.type == .ACCESS_DENIED)
    }

    @Test func anyOfMovesPastAnAbsentIdentitySource() throws {
        let tenant = Self.authorizer(.request) { $0.name = "tenant"; $0.identitySources = [.header("x-tenant")] }
        let token = Self.authorizer()
        token.cache!.store(key: Self.key("Bearer t"), answer: Self.policy("Allow", "*"), now: Self.clock.now)
        let either = AuthRequirement.anyOf([.external(ExternalStep(authorizer: tenant)), .external(ExternalStep(authorizer: token))])
        let loop = EmbeddedEventLoop()
        func run(_ r: AuthRequest) throws -> AuthDecision {
            switch either.decide(r, on: loop) {
            case .now(let d): return d
            case .later(let f):
                loop.run()
                return try f.wait()
            }
        }
        #expect(try run(JWTFixtures.request([("Authorization", "Bearer t")])).identity?.principal == "alice")
        let neither = try run(JWTFixtures.request())
        #expect(neither.isAbstain)
        #expect(neither.refusal?.type == .UNAUTHORIZED)
    }

    @Test func requestEventCarriesTheClientCertificate() throws {
        var r = JWTFixtures.request()
        r.clientCertificate = ClientCertificate(
            subject: "CN=client", issuer: "CN=Dev CA", serialNumber: "0A1B", subjectAlternativeNames: [],
            notBefore: "May 28 12:30:02 2019 GMT", notAfter: "May 28 12:30:02 2029 GMT", sha256Fingerprint: "ab", pem: "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n")
        let j = try JSONValue.parse(AuthorizerEvent.request(r, methodARN: r.methodARN, stageVariables: [:], now: 0))
        let cert = j["requestContext"]?["identity"]?["clientCert"]
        #expect(cert?["subjectDN"]?.stringValue == "CN=client")
        #expect(cert?["issuerDN"]?.stringValue == "CN=Dev CA")
        #expect(cert?["serialNumber"]?.stringValue == "0A1B")
        #expect(cert?["validity"]?["notAfter"]?.stringValue == "May 28 12:30:02 2029 GMT")
        #expect(cert?["clientCertPem"]?.stringValue?.hasPrefix("-----BEGIN CERTIFICATE-----\n") == true)
        // Payload 2.0 carries the same object under requestContext.authentication.
        let v2 = try JSONValue.parse(AuthorizerEvent.requestV2(r, routeARN: r.methodARN, identityValues: [], stageVariables: [:], now: 0))
        #expect(v2["requestContext"]?["authentication"]?["clientCert"] == cert)
    }

    @Test func tokenEventShape() throws {
        let e = AuthorizerEvent.token("Bearer a\"b", methodARN: Self.arnPrefix + "GET/x")
        #expect(String(decoding: e, as: UTF8.self) == #"{"type":"TOKEN","authorizationToken":"Bearer a\"b","methodArn":"arn:aws:execute-api:eu-west-1:123456789012:abc/demo/GET/x"}"#)
    }

    @Test func requestEventShape() throws {
        let r = JWTFixtures.request([("X-Tenant", "t1"), ("X-Multi", "a"), ("X-Multi", "b"), ("User-Agent", "ua/1")], target: "/demo/x?q=1&q=2&s=a%20b")
        let e = AuthorizerEvent.request(r, methodARN: r.methodARN, stageVariables: ["env": "test"], now: 1_800_000_000)
        let j = try JSONValue.parse(e)
        #expect(j["type"]?.stringValue == "REQUEST")
        #expect(j["methodArn"]?.stringValue == Self.arnPrefix + "GET/x")
        #expect(j["resource"]?.stringValue == "/x")
        #expect(j["path"]?.stringValue == "/demo/x")
        #expect(j["httpMethod"]?.stringValue == "GET")
        #expect(j["headers"]?["X-Multi"]?.stringValue == "b")
        #expect(j["multiValueHeaders"]?["X-Multi"] == .array([.string("a"), .string("b")]))
        #expect(j["queryStringParameters"]?["q"]?.stringValue == "2")
        #expect(j["queryStringParameters"]?["s"]?.stringValue == "a b")
        #expect(j["multiValueQueryStringParameters"]?["q"] == .array([.string("1"), .string("2")]))
        #expect(j["pathParameters"] == .object([:]))
        #expect(j["stageVariables"]?["env"]?.stringValue == "test")
        let ctx = j["requestContext"]
        #expect(ctx?["accountId"]?.stringValue == "123456789012")
        #expect(ctx?["apiId"]?.stringValue == "abc")
        #expect(ctx?["stage"]?.stringValue == "demo")
        #expect(ctx?["identity"]?["sourceIp"]?.stringValue == "127.0.0.1")
        #expect(ctx?["identity"]?["userAgent"]?.stringValue == "ua/1")
        #expect(ctx?["identity"]?["clientCert"] == .null)
    }

    /// An HTTP API's payload 1.0: the REST event plus `version` and the identity values joined.
    @Test func httpAPIPayload1Shape() throws {
        let r = JWTFixtures.request([("Authorization", "Bearer t"), ("X-Tenant", "t1")])
        let j = try JSONValue.parse(AuthorizerEvent.request(r, methodARN: r.methodARN, stageVariables: [:], now: 0, httpAPIv1: ["Bearer t", "t1"]))
        #expect(j["version"]?.stringValue == "1.0")
        #expect(j["type"]?.stringValue == "REQUEST")
        #expect(j["identitySource"]?.stringValue == "Bearer t,t1")
        #expect(j["authorizationToken"]?.stringValue == "Bearer t,t1")
        #expect(j["methodArn"]?.stringValue == Self.arnPrefix + "GET/x")
        #expect(j["multiValueHeaders"]?["X-Tenant"] == .array([.string("t1")]))
    }

    /// An HTTP API's payload 2.0 (shared/AWS_SEMANTICS.md §1.2): lower-case header names with
    /// repeated values comma-joined, cookies apart, the raw path and query, `requestContext.http`,
    /// CLF time and epoch milliseconds.
    @Test func httpAPIPayload2Shape() throws {
        let r = JWTFixtures.request(
            [("X-Multi", "a"), ("x-multi", "b"), ("User-Agent", "ua/1"), ("Cookie", "s=1; theme=dark"), ("Authorization", "Bearer t")],
            target: "/demo/x?q=1&q=2&s=a%20b")
        let e = AuthorizerEvent.requestV2(r, routeARN: r.methodARN, identityValues: ["Bearer t"], stageVariables: ["env": "test"], now: 1_796_063_405.25)
        let j = try JSONValue.parse(e)
        #expect(j["version"]?.stringValue == "2.0")
        #expect(j["type"]?.stringValue == "REQUEST")
        #expect(j["routeArn"]?.stringValue == Self.arnPrefix + "GET/x")
        #expect(j["identitySource"] == .array([.string("Bearer t")]))
        #expect(j["routeKey"]?.stringValue == "GET /x")
        #expect(j["rawPath"]?.stringValue == "/demo/x")
        #expect(j["rawQueryString"]?.stringValue == "q=1&q=2&s=a%20b")
        #expect(j["cookies"] == .array([.string("s=1"), .string("theme=dark")]))
        #expect(j["headers"]?["x-multi"]?.stringValue == "a,b")
        #expect(j["headers"]?["cookie"] == nil)
        #expect(j["headers"]?["host"]?.stringValue == "a")
        #expect(j["queryStringParameters"]?["q"]?.stringValue == "1,2")
        #expect(j["queryStringParameters"]?["s"]?.stringValue == "a b")
        #expect(j["stageVariables"]?["env"]?.stringValue == "test")
        #expect(j["pathParameters"] == .object([:]))
        let ctx = j["requestContext"]
        #expect(ctx?["accountId"]?.stringValue == "123456789012")
        #expect(ctx?["apiId"]?.stringValue == "abc")
        #expect(ctx?["authentication"] == .null)
        #expect(ctx?["domainName"]?.stringValue == "a")
        #expect(ctx?["http"]?["method"]?.stringValue == "GET")
        #expect(ctx?["http"]?["path"]?.stringValue == "/demo/x")
        #expect(ctx?["http"]?["protocol"]?.stringValue == "HTTP/1.1")
        #expect(ctx?["http"]?["sourceIp"]?.stringValue == "127.0.0.1")
        #expect(ctx?["http"]?["userAgent"]?.stringValue == "ua/1")
        #expect(ctx?["requestId"]?.stringValue == "r")
        #expect(ctx?["routeKey"]?.stringValue == "GET /x")
        #expect(ctx?["stage"]?.stringValue == "demo")
        #expect(ctx?["time"]?.stringValue == "30/Nov/2026:18:30:05 +0000")
        #expect(ctx?["timeEpoch"] == .number(1_796_063_405_250))
        // The domain without its port; a bracketed IPv6 literal stays whole; an absolute-form
        // target's authority wins over Host.
        for (target, host, want) in [("/demo/x", "api.example.com:8443", "api.example.com"), ("/demo/x", "[::1]:8080", "[::1]"),
                                     ("http://other.example:81/demo/x", "api.example.com", "other.example")] {
            let text = "GET \(target) HTTP/1.1\r\nHost: \(host)\r\n\r\n"
            var fields: [HeaderField] = []
            let head = try HeadParser.parseRequest(ByteBuffer(string: text), limits: HeadLimits(), reusing: &fields)
            #expect(AuthorizerEvent.domainName(head) == want, "\(target) \(host)")
        }
    }

    /// The authorizer sends the shape its config names (payload_format_version).
    @Test func configuredPayloadFormatIsTheEventSent() throws {
        let a1 = Self.authorizer(.request) { $0.payloadFormat = .v2 }
        #expect(a1.payloadFormat == .v2)
        let yaml = """
            listeners: [{ name: p, listen: "127.0.0.1:0" }]
            authorizers:
              v2: { type: request, url: "http://127.0.0.1:9/a", identity_source: [header.Authorization], payload_format_version: "2.0" }
              v1: { type: request, url: "http://127.0.0.1:9/a", identity_source: [header.Authorization], payload_format_version: 1.0 }
              rest: { type: request, url: "http://127.0.0.1:9/a", identity_source: [header.Authorization] }
            apis: [{ name: a, stage: s, routes: [{ path: /x, upstream: u, auth: [v2] }] }]
            upstreams: { u: { endpoints: ["http://127.0.0.1:9"] } }
            """
        let c = try ConfigLoader.parse(yaml, file: "t.yaml")
        func format(_ name: String) -> ExternalAuthorizerConfig.PayloadFormat? {
            if case .external(let e)? = c.authorizers[name]?.kind { return e.payloadFormat }
            return nil
        }
        #expect(format("v2") == .v2)
        #expect(format("v1") == .v1)
        #expect(format("rest") == .rest)
        for (bad, says) in [
            ("{ type: request, url: \"http://127.0.0.1:9/a\", payload_format_version: \"3.0\", cache: { ttl: 0s } }", "is \"1.0\" or \"2.0\""),
            ("{ type: token, url: \"http://127.0.0.1:9/a\", payload_format_version: \"2.0\" }", "request authorizers only"),
            ("{ type: request, url: \"http://127.0.0.1:9/a\", payload_format_version: \"1.0\", simple_responses: true, cache: { ttl: 0s } }", "needs payload_format_version \"2.0\""),
        ] {
            let text = yaml.replacingOccurrences(of: "rest: { type: request, url: \"http://127.0.0.1:9/a\", identity_source: [header.Authorization] }", with: "bad: \(bad)")
            #expect(throws: ConfigError.self) { try ConfigLoader.parse(text, file: "t.yaml") }
            do { _ = try ConfigLoader.parse(text, file: "t.yaml") } catch { #expect("\(error)".contains(says), "\(error)") }
        }
    }
}

/// The registry that carries running authorizers (and caches) across reloads.
@Suite struct ExternalAuthorizerRegistryTests {
    static func config(ttl: Duration = .seconds(300)) -> ExternalAuthorizerConfig {
        var c = ExternalAuthorizerConfig(name: "lab", kind: .token, url: "http://127.0.0.1:1/a", identitySources: [.header("authorization")])
        c.cache.ttl = ttl
        return c
    }

    @Test func unchangedSettingsKeepTheInstanceChangedOnesMakeANewOne() {
        let env = AuthEnvironment(group: nil, logger: Logger(label: "test"), online: false)
        let a = ExternalAuthorizer.compile(Self.config(), environment: env)
        #expect(ExternalAuthorizer.compile(Self.config(), environment: env) === a)
        let b = ExternalAuthorizer.compile(Self.config(ttl: .seconds(60)), environment: env)
        #expect(b !== a)
        #expect(env.externalAuthorizers.authorizer(named: "lab") === b)
        // A reload that failed after compiling b dropped it; the running a is found again.
        #expect(ExternalAuthorizer.compile(Self.config(), environment: env) === a)
        #expect(env.externalAuthorizers.authorizer(named: "lab") === a)
        withExtendedLifetime(b) {}
    }

    @Test func releasedInstancesAreNotKept() {
        let env = AuthEnvironment(group: nil, logger: Logger(label: "test"), online: false)
        var a: ExternalAuthorizer? = ExternalAuthorizer.compile(Self.config(), environment: env)
        #expect(a != nil)
        a = nil
        // Nothing holds it: the registry does not keep it alive.
        #expect(env.externalAuthorizers.authorizer(named: "lab") == nil)
        let again = ExternalAuthorizer.compile(Self.config(), environment: env)
        #expect(env.externalAuthorizers.authorizer(named: "lab") === again)
        #expect(env.externalAuthorizers.counters()["lab"] == AuthorizerCacheCounters())
    }
}
