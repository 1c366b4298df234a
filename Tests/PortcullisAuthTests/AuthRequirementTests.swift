import NIOCore
import NIOEmbedded
import PortcullisConfig
import PortcullisCore
import Testing

@testable import PortcullisAuth

/// Route `auth:` entries as admission phases: ip rules, every entry must allow, `any_of` needs
/// one, and abstention (identity source absent) lets `any_of` move on.
@Suite struct AuthRequirementTests {
    func request(ip: String?, headers: [(String, String)] = []) -> AuthRequest {
        var fields: [HeaderField] = []
        let lines = headers.map { "\($0.0): \($0.1)\r\n" }.joined()
        let head = try! HeadParser.parseRequest(
            ByteBuffer(string: "GET /demo/x HTTP/1.1\r\nHost: a\r\n\(lines)\r\n"), limits: HeadLimits(), reusing: &fields)
        return AuthRequest(
            head: head, clientIP: ip.flatMap { IPAddress($0) }, requestID: "r", resourcePath: "/x", pathParameters: [],
            api: .init(id: "abc", stage: "demo", region: "eu-west-1", account: "123456789012"))
    }

    let office = AuthStep.ip(IPRule(name: "office", allow: [CIDR("10.0.0.0/8")!], deny: [CIDR("10.9.0.0/16")!]))
    let v6 = AuthStep.ip(IPRule(name: "v6", allow: [CIDR("2001:db8::/32")!], deny: []))

    /// Runs requirements through the admission driver, as the proxy does.
    func admit(_ requirements: [AuthRequirement], _ request: AuthRequest) -> Admission<AuthRequirement>.Step {
        var admission = Admission(requirements)
        return admission.run(request, on: EmbeddedEventLoop())
    }

    func allowed(_ requirements: [AuthRequirement], _ ip: String?, headers: [(String, String)] = []) -> Bool {
        if case .admitted = admit(requirements, request(ip: ip, headers: headers)) { return true }
        return false
    }

    func refusal(_ requirements: [AuthRequirement], _ ip: String?, headers: [(String, String)] = []) -> Refusal? {
        if case .refused(let r) = admit(requirements, request(ip: ip, headers: headers)) { return r }
        return nil
    }

    @Test func ipRuleAllowDenyTable() {
        let table: [(String?, Bool)] = [
            ("10.1.2.3", true), ("10.9.1.1", false), ("192.0.2.1", false), ("::ffff:10.1.1.1", true), (nil, false),
        ]
        for (ip, expected) in table { #expect(allowed([.step(office)], ip) == expected, "\(ip ?? "nil")") }
    }

    @Test func denyMessagesFollowAPIGateway() throws {
        let r = try #require(refusal([.step(office)], "10.9.0.1"))
        #expect(r.type == .ACCESS_DENIED)
        #expect(r.message == "User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:eu-west-1:123456789012:abc/demo/GET/x with an explicit deny")
        #expect(r.reason.contains("deny list"))
    }

    @Test func everyRequirementMustAllowAndAnyOfNeedsOne() {
        #expect(!allowed([.step(office), .step(v6)], "10.1.1.1"))
        let either: [AuthRequirement] = [.anyOf([office, v6])]
        #expect(allowed(either, "10.1.1.1"))
        #expect(allowed(either, "2001:db8::5"))
        #expect(!allowed(either, "192.0.2.1"))
        #expect(allowed([], nil))
    }

    @Test func compilerDropsNoneEntries() {
        let steps = ["office": office]
        #expect(AuthCompiler.compile([.none], authorizers: steps).isEmpty)
        #expect(AuthCompiler.compile([.none, .step("office")], authorizers: steps).count == 1)
        #expect(AuthCompiler.compile([.anyOf(["office"])], authorizers: steps).count == 1)
    }

    /// A JWT authorizer abstains without a token: any_of moves on to the next alternative, a real
    /// refusal outranks an abstention, and an abstention alone still refuses (401).
    @Test func abstainInsideAnyOf() throws {
        let m = try JWTFixtures.get()
        let jwt = AuthStep.jwt(JWTStep(authorizer: JWTFixtures.authorizer(m)))
        let bad = [("Authorization", "Bearer " + m.token("valid-RS256") + "x")]
        let good = [("Authorization", "Bearer " + m.token("valid-RS256"))]

        #expect(jwt.evaluate(request(ip: "10.1.1.1"), on: EmbeddedEventLoop()).nowValue?.isAbstain == true)
        // No token, office address: the ip alternative allows.
        #expect(allowed([.anyOf([jwt, office])], "10.1.1.1"))
        // No token, outside address: the office refusal (real) outranks the JWT abstention.
        #expect(refusal([.anyOf([jwt, office])], "192.0.2.1")?.type == .ACCESS_DENIED)
        // A bad token is a real refusal: the first real refusal in config order is the answer.
        #expect(refusal([.anyOf([jwt, office])], "192.0.2.1", headers: bad)?.type == .UNAUTHORIZED)
        // A good token from outside: the JWT alternative allows, with its identity.
        guard case .admitted(let id) = admit([.anyOf([office, jwt])], request(ip: "192.0.2.1", headers: good)) else {
            Issue.record("expected admission")
            return
        }
        #expect(id?.authorizer == "test")
        // Only abstentions: the first one's refusal (Unauthorized) is the answer.
        #expect(refusal([.anyOf([jwt, jwt])], "10.1.1.1")?.type == .UNAUTHORIZED)
        // Alone, an abstention refuses.
        #expect(refusal([.step(jwt)], "10.1.1.1")?.type == .UNAUTHORIZED)
    }
}

extension Eventually {
    var nowValue: Value? {
        if case .now(let v) = self { return v }
        return nil
    }
}
