import PortcullisAuth
import PortcullisCore
import PortcullisPolicy
import Testing

@testable import PortcullisProxy

/// The order a route's phases run in, whatever the order of its `auth:` list.
@Suite struct AdmissionStepTests {
    static func ip(_ name: String) -> AuthStep { .ip(IPRule(name: name, allow: [CIDR("10.0.0.0/8")!], deny: [])) }

    static func names(_ steps: [AdmissionStep]) -> [String] {
        steps.map { step in
            switch step {
            case .privateEndpoint: return "private"
            case .authorize(.step(let s)): return s.name
            case .authorize(.anyOf(let list)): return "any(" + list.map(\.name).joined(separator: ",") + ")"
            case .resourcePolicy: return "policy"
            case .apiKey: return "api_key"
            case .throttle: return "throttle"
            case .quota: return "quota"
            }
        }
    }

    @Test func addressRulesRunBeforeIdentityInListOrder() {
        let auth: [AuthRequirement] = [.anyOf([Self.ip("a"), Self.ip("b")]), .step(Self.ip("office")), .step(Self.ip("vpn"))]
        #expect(Self.names(AdmissionStep.compile(auth: auth)) == ["office", "vpn", "any(a,b)"])
        #expect(AdmissionStep.compile(auth: []).isEmpty)
        // A private API checks the listener before anything else.
        #expect(Self.names(AdmissionStep.compile(auth: auth, privateAPI: true)) == ["private", "office", "vpn", "any(a,b)"])
        // The resource policy runs after the authorizers: it needs the identity they establish.
        let policy = try! PolicyDocument.parse(JSONValue.parse(#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#))
        #expect(Self.names(AdmissionStep.compile(auth: auth, privateAPI: true, resourcePolicy: policy)) == ["private", "office", "vpn", "any(a,b)", "policy"])
        #expect(Self.names(AdmissionStep.compile(auth: [], resourcePolicy: policy)) == ["policy"])
    }
}
