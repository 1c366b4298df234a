import Foundation
import PortcullisCore
import Testing

@testable import PortcullisAuth
@testable import PortcullisConfig

/// `type: jwt` in YAML: defaults, every refusal of the loader (file:line:column, did-you-mean),
/// and the workshop examples compiled into working authorizers.
@Suite("JWT: config")
struct JWTConfigTests {
    static func yaml(_ authorizer: String, route: String = "{ path: /x, upstream: b, auth: [a] }") -> String {
        """
        listeners: [{ name: p, listen: "127.0.0.1:0" }]
        authorizers:
          a:
        \(authorizer.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        apis:
          - name: t
            routes:
              - \(route)
        upstreams:
          b: { endpoints: ["http://127.0.0.1:9001"] }
        """
    }

    static func load(_ authorizer: String, route: String = "{ path: /x, upstream: b, auth: [a] }") throws(ConfigError) -> PortcullisConfig {
        try ConfigLoader.parse(yaml(authorizer, route: route), file: "t.yaml", environment: ["LAB_SECRET": String(repeating: "s", count: 40)])
    }

    static func jwt(_ c: PortcullisConfig) -> JWTAuthorizerConfig? {
        if case .jwt(let j)? = c.authorizers["a"]?.kind { return j }
        return nil
    }

    static func errors(_ authorizer: String, route: String = "{ path: /x, upstream: b, auth: [a] }") -> String {
        do {
            _ = try load(authorizer, route: route)
            return ""
        } catch {
            return error.description
        }
    }

    @Test func cognitoIssuerAlone() throws {
        let j = try #require(Self.jwt(try Self.load("type: jwt\nissuer: https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC\naudiences: [app]")))
        #expect(j.keySource == .discovery(issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"))
        #expect(j.cognito)
        #expect(j.algorithms == ["RS256"])
        #expect(j.identitySource == .header("authorization"))
        #expect(j.requireExp)
        let generic = try #require(Self.jwt(try Self.load("type: jwt\nissuer: https://login.example.com/realm")))
        #expect(!generic.cognito)
        #expect(generic.algorithms.count == 10)  // every asymmetric algorithm
        #expect(!generic.algorithms.contains("HS256"))
    }

    @Test func secretFromEnvironmentAndRouteFields() throws {
        let c = try Self.load(
            "type: jwt\nsecret: ${LAB_SECRET}\nidentity_source: $request.querystring.token\nforward_claims: {X-User: sub}\nleeway: 30s",
            route: "{ path: /x, upstream: b, auth: [a], scopes: [read, write], claims: [{claim: role, one_of: [a, b]}, {claim: email, regex: \"@x\\\\.com$\"}] }")
        let j = try #require(Self.jwt(c))
        #expect(j.keySource == .secret(Array(String(repeating: "s", count: 40).utf8)))
        #expect(j.algorithms == ["HS256"])
        #expect(j.identitySource == .query("token"))
        #expect(j.forwardClaims.map(\.header) == ["X-User"])
        #expect(j.leeway == .seconds(30))
        let route = try #require(c.apis.first?.routes.first)
        #expect(route.scopes == ["read", "write"])
        #expect(route.claims == [.init(claim: "role", test: .oneOf(["a", "b"])), .init(claim: "email", test: .regex("@x\\.com$"))])
    }

    @Test(arguments: [
        ("type: jwt", "a jwt authorizer needs a key source"),
        ("type: jwt\nissuer: http://idp.example.com", "to discover keys the issuer must be an https URL"),
        ("type: jwt\njwks_url: http://idp.example.com/jwks", "a key set over plain http can be forged in transit"),
        ("type: jwt\njwks_url: https://a/j\nsecret: ${LAB_SECRET}", "give one key source, not both jwks_url and secret"),
        ("type: jwt\nissuer: https://a\nalgorithms: [none]", "alg none (unsigned tokens) is never accepted"),
        ("type: jwt\nissuer: https://a\nalgorithms: [RS265]", "unknown algorithm \"RS265\"; did you mean \"RS256\"?"),
        ("type: jwt\nissuer: https://a\nalgorithms: [HS256]", "HS256 needs secret or secret_file; HMAC is never checked against a public key"),
        ("type: jwt\nsecret: ${LAB_SECRET}\nalgorithms: [RS256]", "RS256 needs a public key"),
        ("type: jwt\nsecret: short", "the secret has 5 bytes; HS256 needs at least 32"),
        ("type: jwt\nsecret: ${LAB_SECRET}\nalgorithms: [HS512]", "the secret has 40 bytes; HS512 needs at least 64"),
        ("type: jwt\nsecret_file: /nonexistent/lab.key", "cannot read /nonexistent/lab.key"),
        ("type: jwt\nissuer: https://a\ntoken_use: [refresh]", "token_use values are id and access"),
        ("type: jwt\nissuer: https://a\nidentity_source: body.token", "identity_source is header.NAME, query.NAME or cookie.NAME"),
        ("type: jwt\nissuer: https://a\naudience: [x]", "unknown key \"audience\"; did you mean \"audiences\"?"),
        ("type: jwt\nissuer: https://a\nclaims: [{claim: x, regex: \"(\"}]", "invalid regular expression"),
        ("type: jwt\nissuer: https://a\nclaims: [{claim: x}]", "a claim rule needs a test"),
        ("type: jwt\nissuer: https://a\njwks: {min_refresh: 2h}", "min_refresh must not exceed max_refresh"),
        ("type: jwt\nissuer: https://a\nforward_claims: {Content-Length: sub}", "Content-Length frames or routes the request"),
        ("type: jtw\nissuer: https://a", "unknown authorizer type \"jtw\"; did you mean \"jwt\"?"),
    ])
    func refusals(authorizer: String, message: String) {
        let e = Self.errors(authorizer)
        #expect(e.contains(message), "\(authorizer) → \(e)")
        #expect(e.contains("t.yaml:"), "errors carry file:line:column")
    }

    @Test func tooManyRouteScopes() {
        let e = Self.errors("type: jwt\nissuer: https://a", route: "{ path: /x, upstream: b, auth: [a], scopes: [a,b,c,d,e,f,g,h,i,j,k] }")
        #expect(e.contains("at most 10 scopes per route"))
    }

    @Test func filesAreReadRelativeToTheConfig() throws {
        let m = try JWTFixtures.get()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-jwtcfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(m.jwks).write(to: dir.appendingPathComponent("jwks.json"))
        try m.publicPEM["ed"]!.write(to: dir.appendingPathComponent("ed.pem"), atomically: true, encoding: .utf8)
        try m.privatePEM["ed"]!.write(to: dir.appendingPathComponent("ed-private.pem"), atomically: true, encoding: .utf8)
        try "{\"nokeys\":1}".write(to: dir.appendingPathComponent("bad.json"), atomically: true, encoding: .utf8)
        func load(_ a: String) throws(ConfigError) -> PortcullisConfig {
            let path = dir.appendingPathComponent("c.yaml").path
            try? Self.yaml(a).write(toFile: path, atomically: true, encoding: .utf8)
            return try ConfigLoader.load(path: path, environment: [:])
        }
        let set = try #require(Self.jwt(try load("type: jwt\njwks_file: jwks.json")))
        let a = JWTAuthorizer.compile(set, environment: JWTFixtures.environment(nil), clock: ManualClock(JWTFixtures.now).clock)
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-PS384"))).isAllow)
        let pem = try #require(Self.jwt(try load("type: jwt\npublic_key_file: ed.pem")))
        let b = JWTAuthorizer.compile(pem, environment: JWTFixtures.environment(nil), clock: ManualClock(JWTFixtures.now).clock)
        #expect(try JWTFixtures.decide(b, JWTFixtures.bearer(m.token("valid-EdDSA"))).isAllow)
        #expect(throws: ConfigError.self) { try load("type: jwt\npublic_key_file: ed-private.pem") }
        // Key material only OpenSSL can judge: reported by AuthCompiler.validate (for check and reload).
        try "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".write(to: dir.appendingPathComponent("junk.pem"), atomically: true, encoding: .utf8)
        let junk = try load("type: jwt\npublic_key_file: junk.pem")
        let issues = AuthCompiler.validate(junk.authorizers, file: "c.yaml")
        #expect(issues.count == 1 && issues[0].keyPath == "authorizers.a" && issues[0].message.contains("junk.pem"))
        #expect(AuthCompiler.validate(try load("type: jwt\njwks_file: jwks.json").authorizers, file: "c.yaml").isEmpty)
        // Compiled anyway, it answers 500 rather than crashing.
        guard case .jwt(let jc)? = junk.authorizers["a"]?.kind else { return }
        let broken = JWTAuthorizer.compile(jc, environment: JWTFixtures.environment(nil))
        #expect(try JWTFixtures.decide(broken, JWTFixtures.bearer(m.token("valid-EdDSA"))).refusal?.type == .AUTHORIZER_FAILURE)
        #expect(throws: ConfigError.self) { try load("type: jwt\njwks_file: bad.json") }
    }

    @Test func workshopExamplesCompile() throws {
        let dir = JWTFixtures.repositoryRoot.appendingPathComponent("config")
        let part1 = try ConfigLoader.load(path: dir.appendingPathComponent("part1-cognito.yaml").path, environment: [:])
        guard case .jwt(let cognito)? = part1.authorizers["cognito"]?.kind else { Issue.record("no cognito authorizer"); return }
        #expect(cognito.cognito)
        #expect(cognito.keySource == .discovery(issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"))
        #expect(part1.apis[0].routes.contains { $0.scopes == ["items/read", "items/admin"] })

        let part4 = try ConfigLoader.load(path: dir.appendingPathComponent("part4-custom-token.yaml").path, environment: [:])
        guard case .jwt(let lab)? = part4.authorizers["lab-token"]?.kind else { Issue.record("no lab-token authorizer"); return }
        let a = JWTAuthorizer.compile(lab, environment: JWTFixtures.environment(nil))
        // A token minted by PyJWT with the demo secret (exp in 2100).
        let alice = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiIsImlzcyI6InBvcnRjdWxsaXMtbGFiIiwiYXVkIjoid29ya3Nob3AiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6NDEwMjQ0NDgwMH0.-9n5BZa578pJ6xFIc4AAqtZyBz2zjCLLjHv7UPAUrJo"
        let d = try JWTFixtures.decide(a, JWTFixtures.bearer(alice))
        #expect(d.identity?.upstreamHeaders.map(\.0) == ["X-User-Id", "X-User-Role"])
        guard case .jwt(let cookie)? = part4.authorizers["lab-cookie"]?.kind else { return }
        let c = JWTAuthorizer.compile(cookie, environment: JWTFixtures.environment(nil))
        #expect(try JWTFixtures.decide(c, JWTFixtures.request([("Cookie", "theme=dark; lab_token=\(alice)")])).isAllow)
    }
}
