import Foundation
import PortcullisCore
import Testing

@testable import PortcullisAuth
@testable import PortcullisConfig

/// What a route adds: Cognito's ID-vs-access rule, scopes, claim rules; identity sources;
/// identity and forwarded claims; the step inside an AuthChain.
@Suite("JWT: routes and identity")
struct JWTRouteTests {
    @Test func cognitoTokenKindFollowsTheRoute() throws {
        let m = try JWTFixtures.get()
        let a = JWTFixtures.authorizer(m) { $0.cognito = true }
        let id = JWTFixtures.bearer(m.token("valid-RS256"))  // token_use id, aud
        let access = JWTFixtures.bearer(m.token("access-ok"))  // token_use access, client_id, scope "read write"
        #expect(try JWTFixtures.decide(a, id).isAllow)
        #expect(try JWTFixtures.decide(a, access).refusal?.reason == "Expected an ID token (route has no scopes)")
        let read = RouteAuthPolicy(scopes: ["read"])
        #expect(try JWTFixtures.decide(a, access, route: read).isAllow)
        #expect(try JWTFixtures.decide(a, id, route: read).refusal?.reason == "Expected an access token (route has scopes)")
        let admin = RouteAuthPolicy(scopes: ["admin", "items/admin"])
        let r = try #require(try JWTFixtures.decide(a, access, route: admin).refusal)
        #expect(r.type == .FORBIDDEN && r.type.defaultStatus == 403 && r.message == "Forbidden")
        #expect(r.reason == "Token has none of the scopes admin items/admin")
        // Any one route scope suffices.
        #expect(try JWTFixtures.decide(a, access, route: RouteAuthPolicy(scopes: ["nope", "write"])).isAllow)
    }

    @Test func scopesFromScpToo() {
        #expect(Scopes.satisfies(.object(["scp": .array([.string("a"), .string("b")])]), ["b"]))
        #expect(Scopes.satisfies(.object(["scp": .string("a b")]), ["b"]))
        #expect(!Scopes.satisfies(.object(["scope": .string("ab")]), ["a"]))
        #expect(!Scopes.satisfies(.object([:]), ["a"]))
    }

    @Test func claimRules() throws {
        let m = try JWTFixtures.get()
        let rule = { (claim: String, test: ClaimRuleConfig.Test) in try ClaimRule(ClaimRuleConfig(claim: claim, test: test)) }
        let a = JWTFixtures.authorizer(m) { $0.claims = [.init(claim: "email", test: .regex("@example\\.com$"))] }
        let t = JWTFixtures.bearer(m.token("valid-ES256"))
        #expect(try JWTFixtures.decide(a, t).isAllow)
        let cases: [(ClaimRule, Bool)] = [
            (try rule("cognito:groups", .contains("admin")), true),
            (try rule("cognito:groups", .contains("root")), false),
            (try rule("sub", .equals("user-1")), true),
            (try rule("sub", .oneOf(["x", "user-1"])), true),
            (try rule("sub", .oneOf(["x"])), false),
            (try rule("email", .regex("^ana@")), true),
            (try rule("missing", .equals("")), false),
            (try rule("cognito:groups", .equals("admin")), false),  // an array is not a scalar
        ]
        for (r, allowed) in cases {
            let d = try JWTFixtures.decide(a, t, route: RouteAuthPolicy(claims: [r]))
            #expect(d.isAllow == allowed, "\(r.text)")
            if !allowed { #expect(d.refusal?.reason == "Claim rule failed: \(r.text)") }
        }
        let strict = JWTFixtures.authorizer(m) { $0.claims = [.init(claim: "email", test: .equals("bob@example.com"))] }
        #expect(try JWTFixtures.decide(strict, t).refusal?.type == .FORBIDDEN)
    }

    @Test func identitySources() throws {
        let m = try JWTFixtures.get()
        let token = m.token("valid-RS256")
        let header = JWTFixtures.authorizer(m) { $0.identitySource = .header("x-token") }
        #expect(try JWTFixtures.decide(header, JWTFixtures.request([("X-Token", token)])).isAllow)
        #expect(try JWTFixtures.decide(header, JWTFixtures.request([("X-Token", "bearer \(token)")])).isAllow)
        #expect(try JWTFixtures.decide(header, JWTFixtures.bearer(token)).refusal?.reason == "No token in header.x-token")
        let query = JWTFixtures.authorizer(m) { $0.identitySource = .query("id_token") }
        #expect(try JWTFixtures.decide(query, JWTFixtures.request(target: "/demo/x?a=1&id_token=\(token)")).isAllow)
        #expect(try JWTFixtures.decide(query, JWTFixtures.request(target: "/demo/x?id_token=")).refusal?.type == .UNAUTHORIZED)
        let cookie = JWTFixtures.authorizer(m) { $0.identitySource = .cookie("session") }
        #expect(try JWTFixtures.decide(cookie, JWTFixtures.request([("Cookie", "a=b; session=\"\(token)\"")])).isAllow)
        #expect(try JWTFixtures.decide(cookie, JWTFixtures.request([("Cookie", "sessionx=\(token)")])).refusal?.reason == "No token in cookie.session")
    }

    @Test func bearerScheme() {
        typealias S = JWTAuthorizerConfig.IdentitySource
        let cases: [(String, String?)] = [
            ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER \tabc  ", "abc"), ("abc", "abc"), ("  abc", "abc"),
            ("Bearer", nil), ("bearer ", nil), ("", nil), ("   ", nil), ("Bearerabc", "Bearerabc"), ("Basic dXNlcg==", "Basic dXNlcg=="),
        ]
        for (input, expected) in cases { #expect(S.stripBearer(input) == expected, "\(input)") }
    }

    @Test func identityAndForwardedClaims() throws {
        let m = try JWTFixtures.get()
        let a = JWTFixtures.authorizer(m) {
            $0.principalClaim = "email"
            $0.forwardClaims = [("X-User-Id", "sub"), ("X-Groups", "cognito:groups"), ("X-None", "absent")]
        }
        let id = try #require(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-RS256"))).identity)
        #expect(id.principal == "ana@example.com")
        #expect(id.upstreamHeaders.map { "\($0.0)=\($0.1)" } == ["X-User-Id=user-1", "X-Groups=admin,users"])
    }

    @Test func stepInsideAChain() throws {
        let m = try JWTFixtures.get()
        let a = JWTFixtures.authorizer(m)
        let steps: [String: AuthStep] = ["jwt": .jwt(JWTStep(authorizer: a))]
        let requirements = AuthCompiler.compile([.step("jwt")], authorizers: steps, scopes: ["write"])
        #expect(requirements.count == 1)
        guard case .now(let d) = requirements[0].decide(JWTFixtures.bearer(m.token("access-ok")), on: EmbeddedLoop.make()) else {
            Issue.record("fixed key set should decide at once")
            return
        }
        #expect(d.isAllow)
        guard case .now(let d2) = requirements[0].decide(JWTFixtures.bearer(m.token("valid-RS256")), on: EmbeddedLoop.make()) else { return }
        #expect(d2.refusal?.type == .FORBIDDEN)
        #expect(steps["jwt"]!.isReady)
        #expect(steps["jwt"]!.name == "test")
    }

    @Test func jsonReaderIsStrict() throws {
        #expect(try JSONValue.parse("{\"a\":[1,2.5,-3e2,true,null,\"\\u00e9\\ud83d\\ude00\"]}")["a"]?.arrayValue?.count == 6)
        #expect(try JSONValue.parse("\"\\ud83d\\ude00\"").stringValue == "😀")
        for bad in ["{\"a\":1,\"a\":2}", "{\"a\":1,}", "[01]", "\"\\ud83d\"", "{\"a\":1} x", "\"a\u{01}\"", "nul", "1.", "-"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
        #expect(JSONValue.object(["b": .number(1_800_000_000), "a": .string("x\"")]).serialized == "{\"a\":\"x\\\"\",\"b\":1800000000}")
    }
}

import NIOCore
import NIOEmbedded

enum EmbeddedLoop {
    static func make() -> EmbeddedEventLoop { EmbeddedEventLoop() }
}
