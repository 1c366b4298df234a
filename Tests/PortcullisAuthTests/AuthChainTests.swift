import NIOCore
import NIOEmbedded
import PortcullisConfig
import PortcullisCore
import Testing

@testable import PortcullisAuth

@Suite struct AuthChainTests {
    func request(ip: String?) -> AuthRequest {
        var fields: [HeaderField] = []
        let head = try! HeadParser.parseRequest(
            ByteBuffer(string: "GET /demo/x HTTP/1.1\r\nHost: a\r\n\r\n"), limits: HeadLimits(), reusing: &fields)
        return AuthRequest(
            head: head, clientIP: ip.flatMap { IPAddress($0) }, requestID: "r", resourcePath: "/x", pathParameters: [],
            api: .init(id: "abc", stage: "demo", region: "eu-west-1", account: "123456789012"))
    }

    let office = AuthStep.ip(IPRule(name: "office", allow: [CIDR("10.0.0.0/8")!], deny: [CIDR("10.9.0.0/16")!]))
    let v6 = AuthStep.ip(IPRule(name: "v6", allow: [CIDR("2001:db8::/32")!], deny: []))

    func decide(_ chain: AuthChain, _ ip: String?) -> AuthDecision? {
        if case .decided(let d) = chain.evaluate(request(ip: ip), on: EmbeddedEventLoop()) { return d }
        return nil
    }

    func allowed(_ d: AuthDecision?) -> Bool {
        if case .allow = d { return true }
        return false
    }

    @Test func ipRuleAllowDenyTable() {
        let chain = AuthChain([.step(office)])
        let table: [(String?, Bool)] = [
            ("10.1.2.3", true), ("10.9.1.1", false), ("192.0.2.1", false), ("::ffff:10.1.1.1", true), (nil, false),
        ]
        for (ip, expected) in table { #expect(allowed(decide(chain, ip)) == expected, "\(ip ?? "nil")") }
    }

    @Test func denyMessagesFollowAPIGateway() {
        guard case .refuse(let r) = decide(AuthChain([.step(office)]), "10.9.0.1") else {
            Issue.record("expected a refusal")
            return
        }
        #expect(r.type == .ACCESS_DENIED)
        #expect(r.message == "User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:eu-west-1:123456789012:abc/demo/GET/x with an explicit deny")
        #expect(r.reason.contains("deny list"))
    }

    @Test func everyRequirementMustAllowAndAnyOfNeedsOne() {
        let both = AuthChain([.step(office), .step(v6)])
        #expect(!allowed(decide(both, "10.1.1.1")))
        let either = AuthChain([.anyOf([office, v6])])
        #expect(allowed(decide(either, "10.1.1.1")))
        #expect(allowed(decide(either, "2001:db8::5")))
        #expect(!allowed(decide(either, "192.0.2.1")))
        #expect(allowed(decide(AuthChain.open, nil)))
    }

    @Test func compilerDropsNoneAndAnyOfWithNone() {
        let steps = ["office": office]
        #expect(AuthCompiler.compile([.step("none")], authorizers: steps).isOpen)
        #expect(AuthCompiler.compile([.anyOf(["office", "none"])], authorizers: steps).isOpen)
        #expect(AuthCompiler.compile([.step("office")], authorizers: steps).requirements.count == 1)
    }
}
