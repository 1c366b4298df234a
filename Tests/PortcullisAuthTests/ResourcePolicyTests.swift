import NIOCore
import PortcullisConfig
import PortcullisCore
@testable import PortcullisPolicy
import Testing

@testable import PortcullisAuth

/// The resource-policy phase against API Gateway's evaluation rules (shared/AWS_SEMANTICS.md
/// §5.4), one table per authorizer kind, and the condition keys a request brings.
@Suite struct ResourcePolicyTests {
    static let arnPrefix = "arn:aws:execute-api:eu-west-1:123456789012:abc"

    static func doc(_ json: String) -> PolicyDocument {
        try! PolicyDocument.parse(try! JSONValue.parse(Array(json.utf8)), executeAPI: arnPrefix)
    }

    /// A resource policy whose effect on `/demo/GET/x` is allow, neither or deny.
    static func resource(_ side: Side) -> PolicyDocument? {
        switch side {
        case .none: return nil
        case .allow: return doc(#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*"}}"#)
        case .neither: return doc(#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/other/*"}}"#)
        case .deny:
            return doc(
                #"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*"},{"Sid":"No","Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/demo/GET/*"}]}"#)
        }
    }

    /// Identity policies with the same three effects.
    static func identity(_ side: Side) -> [PolicyDocument] {
        switch side {
        case .none, .neither: return side == .none ? [] : [doc(#"{"Statement":{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"\#(arnPrefix)/other/*"}}"#)]
        case .allow: return [doc(#"{"Statement":{"Effect":"Allow","Action":"execute-api:*","Resource":"\#(arnPrefix)/*"}}"#)]
        case .deny: return [doc(#"{"Statement":{"Effect":"Deny","Action":"execute-api:Invoke","Resource":"*"}}"#)]
        }
    }

    enum Side { case none, allow, neither, deny }
    enum Want: Equatable { case pass, implicit, explicit }

    func run(_ phase: ResourcePolicyPhase, _ identity: Identity?, ip: String = "127.0.0.1") -> (Want, Refusal?) {
        var r = JWTFixtures.request(target: "/demo/x")
        r.clientIP = IPAddress(ip)
        switch phase.admit(r, identity: identity) {
        case .pass: return (.pass, nil)
        case .refuse(let refusal):
            return (refusal.message?.hasSuffix("with an explicit deny") == true ? .explicit : .implicit, refusal)
        }
    }

    static func iam(account: String, key: String = "AKIA1") -> Identity {
        Identity(
            principal: "arn:aws:iam::\(account):user/alice", authorizer: "iam", kind: .iam,
            claims: ["accountId": account, "accessKey": key, "userArn": "arn:aws:iam::\(account):user/alice"])
    }

    @Test func noAuthorizerNeedsAnExplicitAllow() {
        for (side, want) in [(Side.allow, Want.pass), (.neither, .implicit), (.deny, .explicit)] {
            let phase = ResourcePolicyPhase(resource: Self.resource(side), identityPolicies: [])
            let (got, refusal) = run(phase, nil)
            #expect(got == want, "resource \(side)")
            if let refusal {
                #expect(refusal.type == .ACCESS_DENIED)
                #expect(refusal.message?.hasPrefix("User: anonymous is not authorized to perform: execute-api:Invoke on resource: \(Self.arnPrefix)/demo/GET/x") == true)
            }
        }
    }

    @Test func jwtIdentityIsAnonymousToTheResourcePolicyWhichMustAllow() {
        let user = Identity(principal: "sub-1", authorizer: "cognito", kind: .jwt)
        for (side, want) in [(Side.allow, Want.pass), (.neither, .implicit), (.deny, .explicit)] {
            let (got, refusal) = run(ResourcePolicyPhase(resource: Self.resource(side), identityPolicies: []), user)
            #expect(got == want, "resource \(side)")
            #expect(refusal?.message?.hasPrefix("User: anonymous ") ?? true)
        }
    }

    /// Table A (same account) and Table B (cross account): identity side x resource side.
    @Test func iamCombinesIdentityAndResourcePolicies() {
        let sides: [Side] = [.allow, .neither, .deny]
        for sameAccount in [true, false] {
            for id in sides {
                for res in sides {
                    let want: Want
                    if id == .deny || res == .deny {
                        want = .explicit
                    } else if id == .allow && res == .allow {
                        want = .pass
                    } else if sameAccount && (id == .allow || res == .allow) {
                        want = .pass
                    } else {
                        want = .implicit
                    }
                    let policies = IdentityPolicies(byAccessKey: ["AKIA1": Self.identity(id)])
                    let phase = ResourcePolicyPhase(resource: Self.resource(res), identityPolicies: [("iam", policies)])
                    let account = sameAccount ? "123456789012" : "210987654321"
                    let (got, refusal) = run(phase, Self.iam(account: account))
                    #expect(got == want, "identity \(id), resource \(res), same account \(sameAccount)")
                    if let refusal {
                        #expect(refusal.message?.hasPrefix("User: arn:aws:iam::\(account):user/alice is not authorized to perform: execute-api:Invoke on resource: \(Self.arnPrefix)/demo/GET/x") == true)
                    }
                }
            }
        }
    }

    @Test func iamWithoutIdentityPoliciesOrWithoutAResourcePolicy() {
        // No policies_dir: a verified key counts as allowed on the identity side.
        #expect(run(ResourcePolicyPhase(resource: Self.resource(.neither), identityPolicies: []), Self.iam(account: "123456789012")).0 == .pass)
        #expect(run(ResourcePolicyPhase(resource: Self.resource(.neither), identityPolicies: []), Self.iam(account: "210987654321")).0 == .implicit)
        #expect(run(ResourcePolicyPhase(resource: Self.resource(.deny), identityPolicies: []), Self.iam(account: "123456789012")).0 == .explicit)
        // No resource policy: the identity policies decide alone; a key with none is refused.
        let policies = IdentityPolicies(byAccessKey: ["AKIA1": Self.identity(.allow)])
        #expect(run(ResourcePolicyPhase(resource: nil, identityPolicies: [("iam", policies)]), Self.iam(account: "123456789012")).0 == .pass)
        #expect(run(ResourcePolicyPhase(resource: nil, identityPolicies: [("iam", policies)]), Self.iam(account: "123456789012", key: "AKIA2")).0 == .implicit)
        // Identity policies of another authorizer do not apply.
        #expect(run(ResourcePolicyPhase(resource: nil, identityPolicies: [("other", policies)]), Self.iam(account: "123456789012", key: "AKIA2")).0 == .pass)
    }

    @Test func conditionKeysComeFromTheRequest() {
        var r = JWTFixtures.request([("User-Agent", "curl/8.5"), ("Referer", "https://example.com/")], target: "/demo/x")
        r.clientIP = IPAddress("192.0.2.7")
        r.listener = .init(name: "vpc", isPrivate: true, vpc: "vpc-1", vpce: "vpce-2")
        r.secureTransport = true
        let jwt = Identity(principal: "s", authorizer: "c", kind: .jwt, claims: ["sub": "s", "cognito:groups": "a,b"], listClaims: ["cognito:groups": ["a", "b"]])
        let c = RequestConditions(request: r, identity: jwt, now: 1_767_225_600)
        func one(_ k: String) -> String? {
            switch c.values(for: ConditionKey(k)) {
            case .one(let v): return v
            case .address(let ip): return ip.description
            default: return nil
            }
        }
        #expect(one("aws:SourceIp") == "192.0.2.7")
        #expect(one("aws:VpcSourceIp") == "192.0.2.7")
        #expect(one("aws:sourcevpc") == "vpc-1")
        #expect(one("AWS:SourceVpce") == "vpce-2")
        #expect(one("aws:SecureTransport") == "true")
        #expect(one("aws:CurrentTime") == "2026-01-01T00:00:00Z")
        #expect(one("aws:EpochTime") == "1767225600")
        #expect(one("aws:UserAgent") == "curl/8.5")
        #expect(one("aws:Referer") == "https://example.com/")
        #expect(one("claims:sub") == "s")
        guard case .many(let groups) = c.values(for: ConditionKey("claims:cognito:groups")) else { Issue.record("groups not multi-valued"); return }
        #expect(groups == ["a", "b"])
        // IAM keys only for IAM principals.
        #expect(one("aws:PrincipalArn") == nil)
        let iam = RequestConditions(request: r, identity: Self.iam(account: "123456789012"), now: 0)
        func iamOne(_ k: String) -> String? { if case .one(let v) = iam.values(for: ConditionKey(k)) { return v } else { return nil } }
        #expect(iamOne("aws:PrincipalArn") == "arn:aws:iam::123456789012:user/alice")
        #expect(iamOne("aws:PrincipalAccount") == "123456789012")
        #expect(iamOne("aws:PrincipalType") == "User")
        #expect(iamOne("aws:username") == "alice")
        #expect(iamOne("aws:userid") == "AKIA1")
        #expect(iamOne("claims:sub") == nil)
        // A regional listener has no VPC keys; plain HTTP is not secure transport.
        let plain = RequestConditions(request: JWTFixtures.request(), identity: nil, now: 0)
        #expect(plain.values(for: .sourceVpce).isAbsent)
        #expect(plain.values(for: .vpcSourceIP).isAbsent)
        if case .one(let v) = plain.values(for: .secureTransport) { #expect(v == "false") } else { Issue.record("no SecureTransport") }
    }

    /// String conditions on headers read the head's bytes in place; they decide as the same
    /// conditions on the value as text, present, absent and empty.
    @Test func headerConditionsOnBytesDecideAsOnText() throws {
        let conditions = [
            #"{"StringLike": {"aws:UserAgent": ["*bad-bot*", "curl/*"]}}"#, #"{"StringNotLike": {"aws:UserAgent": "curl/*"}}"#,
            #"{"StringEquals": {"aws:UserAgent": "curl/8.5"}}"#, #"{"StringNotEquals": {"aws:Referer": "https://example.com/"}}"#,
            #"{"StringEqualsIfExists": {"aws:Referer": "https://example.com/"}}"#, #"{"StringLikeIfExists": {"aws:UserAgent": "x*"}}"#,
        ]
        let requests = [
            JWTFixtures.request([("User-Agent", "curl/8.5"), ("Referer", "https://example.com/")]),
            JWTFixtures.request([("user-agent", "my-bad-bot/1")]), JWTFixtures.request([("User-Agent", "")]), JWTFixtures.request(),
        ]
        for json in conditions {
            let policy = try PolicyDocument.parse(try JSONValue.parse(#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": \#(json)}}"#))
            let condition = policy.statements[0].conditions[0]
            #expect(condition.comparesBytes)
            for r in requests {
                let c = RequestConditions(request: r, identity: nil, now: 0)
                #expect(condition.holds(in: c) == condition.holds(c.values(for: condition.key)), "\(json) with \(r.head.headers.pairs)")
                #expect(c.withBytes(of: condition.key, { _ in true }) == true)
            }
        }
    }

    /// The method ARN: the stage is the base path (cut on a segment boundary), the stage root is
    /// resource `/`, the query is not part of it.
    @Test func methodARN() {
        func arn(_ target: String, stage: String = "demo") -> String {
            var r = JWTFixtures.request(target: target)
            r.api = .init(id: "abc", stage: stage, region: "eu-west-1", account: "123456789012")
            return r.methodARN
        }
        let p = "arn:aws:execute-api:eu-west-1:123456789012:abc"
        #expect(arn("/demo/items/1?x=2") == "\(p)/demo/GET/items/1")
        #expect(arn("/demo/") == "\(p)/demo/GET/")
        #expect(arn("/demo") == "\(p)/demo/GET/")
        #expect(arn("/demonstration/x") == "\(p)/demo/GET/demonstration/x")
        #expect(arn("/items", stage: "") == "\(p)/$default/GET/items")
    }

    @Test func pathParametersAreWrittenOutOnlyWhenAsked() {
        var r = JWTFixtures.request(target: "/demo/items/42/tags/a%20b?x=1")
        // Offsets into the path, as the router binds them.
        r.pathParameterSpans = [.init(name: "id", start: 12, end: 14), .init(name: "tag", start: 20, end: 25)]
        #expect(r.pathParameters.map { "\($0.0)=\($0.1)" } == ["id=42", "tag=a%20b"])
    }

    @Test func multiValuedClaimsWorkWithSetOperators() {
        let policy = Self.doc(
            #"{"Statement":{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*","Condition":{"ForAnyValue:StringEquals":{"claims:cognito:groups":"admin"}}}}"#)
        let phase = ResourcePolicyPhase(resource: policy, identityPolicies: [])
        func user(_ groups: [String]) -> Identity {
            Identity(principal: "s", authorizer: "c", kind: .jwt, claims: ["cognito:groups": groups.joined(separator: ",")], listClaims: ["cognito:groups": groups])
        }
        #expect(run(phase, user(["users", "admin"])).0 == .pass)
        #expect(run(phase, user(["users"])).0 == .implicit)
        #expect(run(phase, Identity(principal: "s", authorizer: "c", kind: .jwt)).0 == .implicit)
    }

    @Test func phaseIsAddedOnlyWhenThereIsAPolicy() {
        #expect(ResourcePolicyPhase.forRoute(resource: nil, steps: []) == nil)
        #expect(ResourcePolicyPhase.forRoute(resource: Self.resource(.allow), steps: []) != nil)
        let plain = SigV4Step(name: "iam", verifier: SigV4Verifier(credentials: [], maxSkewSeconds: 300))
        #expect(ResourcePolicyPhase.forRoute(resource: nil, steps: [.step(.sigv4(plain))]) == nil)
        let withPolicies = SigV4Step(
            name: "iam", verifier: SigV4Verifier(credentials: [], maxSkewSeconds: 300), identityPolicies: IdentityPolicies(byAccessKey: [:]))
        #expect(ResourcePolicyPhase.forRoute(resource: nil, steps: [.anyOf([.sigv4(withPolicies)])])?.identityPolicies.count == 1)
    }
}

extension ConditionValues {
    var isAbsent: Bool { if case .absent = self { return true } else { return false } }
}
