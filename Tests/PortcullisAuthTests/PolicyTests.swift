import PortcullisCore
import Testing

@testable import PortcullisPolicy

/// The IAM policy engine: grammar, wildcards, condition operators, IAM's deny-allow rule, API
/// Gateway's combination of identity and resource policies, and random policies checked against
/// a small reference evaluator written here.
@Suite struct PolicyTests {
    static func policy(_ json: String) throws -> PolicyDocument { try PolicyDocument.parse(try JSONValue.parse(json)) }

    static let arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/GET/items/42"

    @Test func wildcards() {
        let table: [(String, String, Bool)] = [
            ("*", "", true), ("a*c", "abbbc", true), ("a*c", "ab", false), ("a?c", "abc", true), ("a?c", "ac", false),
            ("arn:aws:execute-api:*:*:abc123/*", Self.arn, true), ("arn:aws:execute-api:*:*:abc123/", Self.arn, false),
            ("*/GET/*", Self.arn, true), ("*/POST/*", Self.arn, false), ("**a", "bba", true), ("a*b*c", "axxbyyc", true),
            // `*text*` and `*text` take a substring search and a suffix compare.
            ("*bot*", "Mozilla bot/1.0", true), ("*bot*", "bot", true), ("*bot*", "Mozilla b0t", false), ("*bot*", "bo", false),
            ("*.css", "site/main.css", true), ("*.css", "main.cs", false), ("*.css", ".css", true), ("*é*", "café au lait", true),
        ]
        for (p, t, m) in table { #expect(Wildcard(p).matches(t) == m, "\(p) ~ \(t)") }
        #expect(Wildcard("execute-api:*", ignoreCase: true).matches("Execute-API:Invoke"))
    }

    @Test func grammarErrorsNameTheJSONPath() throws {
        let table: [(String, String)] = [
            (#"{"Statement": {"Effect": "Maybe", "Action": "*", "Resource": "*"}}"#, "Statement[0].Effect: Effect is Allow or Deny"),
            (#"{"Statement": [{"Effect": "Allow", "Resource": "*"}]}"#, "Statement[0].Action: a statement needs Action or NotAction"),
            (#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condtion": {}}]}"#, #"Statement[0].Condtion: unknown statement element "Condtion"; did you mean "Condition"?"#),
            (#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEqualz": {"a": "b"}}}]}"#, #"Statement[0].Condition.StringEqualz: unknown condition operator "StringEqualz""#),
            (#"{"Statement": [{"Effect": "Allow", "Principal": "", "Action": "*", "Resource": "*"}]}"#, #"Statement[0].Principal: Principal is "*" or {"AWS": ARN, account or list} (an empty string matches no one; write "*" for anyone)"#),
            (#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.300/8"}}}]}"#, #"Statement[0].Condition.IpAddress.aws:SourceIp: "10.0.0.300/8" is not an IP address or CIDR block"#),
            (#"{"Version": "2012-10-17"}"#, "Statement: a policy needs a Statement"),
        ]
        for (json, message) in table {
            #expect(throws: PolicyError.self) { try Self.policy(json) }
            do { _ = try Self.policy(json) } catch { #expect("\(error)" == message, "\(json)") }
        }
    }

    @Test func conditionOperators() throws {
        func holds(_ cond: String, _ keys: [String: [String]]) throws -> Bool {
            let p = try Self.policy(#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": \#(cond)}}"#)
            return PolicyEvaluator.evaluate([p], PolicyRequest(principal: nil, action: "execute-api:Invoke", resource: Self.arn, keys: keys)) != .implicitlyDenied
        }
        let ip = ["aws:SourceIp": ["10.1.2.3"]]
        let table: [(String, [String: [String]], Bool)] = [
            (#"{"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}"#, ip, true),
            (#"{"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#, ip, false),
            (#"{"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#, ip, true),
            (#"{"IpAddress": {"aws:SourceIp": "10.1.2.3"}}"#, ip, true),
            (#"{"StringEquals": {"aws:SourceVpce": "vpce-1"}}"#, ["aws:sourcevpce": ["vpce-1"]], true),
            (#"{"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}"#, ["aws:SourceVpce": ["vpce-2"]], true),
            (#"{"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}"#, [:], true),
            (#"{"StringEquals": {"aws:SourceVpce": "vpce-1"}}"#, [:], false),
            (#"{"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1"}}"#, [:], true),
            (#"{"StringEqualsIgnoreCase": {"aws:UserAgent": "CURL/*"}}"#, ["aws:UserAgent": ["curl/*"]], true),
            (#"{"StringEqualsIgnoreCase": {"aws:UserAgent": "CURL/*"}}"#, ["aws:UserAgent": ["curl/8"]], false),
            (#"{"StringLike": {"aws:UserAgent": "curl/*"}}"#, ["aws:UserAgent": ["curl/8"]], true),
            (#"{"NumericLessThan": {"aws:EpochTime": 100}}"#, ["aws:EpochTime": ["99"]], true),
            (#"{"NumericLessThan": {"aws:EpochTime": 100}}"#, ["aws:EpochTime": ["100"]], false),
            (#"{"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}}"#, ["aws:CurrentTime": ["2026-11-30T12:00:00Z"]], true),
            (#"{"DateLessThan": {"aws:CurrentTime": "2026-01-01"}}"#, ["aws:CurrentTime": ["2026-11-30T12:00:00Z"]], false),
            (#"{"Bool": {"aws:SecureTransport": "true"}}"#, ["aws:SecureTransport": ["false"]], false),
            (#"{"Null": {"aws:PrincipalArn": "true"}}"#, [:], true),
            (#"{"Null": {"aws:PrincipalArn": "false"}}"#, [:], false),
            (#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/a*"}}"#, ["aws:PrincipalArn": ["arn:aws:iam::1:user/ana"]], true),
            (#"{"ForAnyValue:StringEquals": {"cognito:groups": ["admin"]}}"#, ["cognito:groups": ["users", "admin"]], true),
            (#"{"ForAllValues:StringEquals": {"cognito:groups": ["admin", "users"]}}"#, ["cognito:groups": ["users", "admin"]], true),
            (#"{"ForAllValues:StringEquals": {"cognito:groups": ["admin"]}}"#, ["cognito:groups": ["users", "admin"]], false),
            (#"{"ForAllValues:StringEquals": {"cognito:groups": ["admin"]}}"#, [:], true),
            (#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "StringEquals": {"aws:SourceVpc": "vpc-1"}}"#, ip, false),
        ]
        for (cond, keys, expected) in table { #expect(try holds(cond, keys) == expected, "\(cond) with \(keys)") }
    }

    @Test func denyBeatsAllowAndNotElements() throws {
        let p = try Self.policy(#"""
            {"Version": "2012-10-17", "Statement": [
              {"Sid": "all", "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:abc123/*"},
              {"Sid": "noDelete", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:abc123/*/DELETE/*"},
              {"Sid": "notAlice", "Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:user/alice"}, "Action": "*", "Resource": "arn:aws:execute-api:*:*:abc123/dev/*/admin/*"}
            ]}
            """#)
        func decide(_ principal: String?, _ verbAndPath: String) -> PolicyDecision {
            PolicyEvaluator.evaluate([p], PolicyRequest(principal: principal, action: "execute-api:Invoke", resource: "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/\(verbAndPath)"))
        }
        #expect(decide(nil, "GET/items") == .allowed(sid: "all"))
        #expect(decide(nil, "DELETE/items/1") == .explicitlyDenied(sid: "noDelete"))
        #expect(decide("arn:aws:iam::123456789012:user/bob", "GET/admin/x") == .explicitlyDenied(sid: "notAlice"))
        #expect(decide("arn:aws:iam::123456789012:user/alice", "GET/admin/x") == .allowed(sid: "all"))
        #expect(PolicyEvaluator.evaluate([p], PolicyRequest(principal: nil, action: "execute-api:Invoke", resource: "arn:aws:execute-api:eu-west-1:1:other/dev/GET/x")) == .implicitlyDenied)
        let account = try Self.policy(#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": ["123456789012"]}, "Action": "*", "Resource": "*"}}"#)
        #expect(PolicyEvaluator.evaluate([account], PolicyRequest(principal: "arn:aws:iam::123456789012:user/x", action: "a", resource: "r")) == .allowed(sid: nil))
        #expect(PolicyEvaluator.evaluate([account], PolicyRequest(principal: "arn:aws:iam::999999999999:user/x", action: "a", resource: "r")) == .implicitlyDenied)
    }

    /// API Gateway's Table A (same account) and Table B (cross account).
    @Test func identityAndResourceTables() {
        let allow = PolicyDecision.allowed(sid: "i"), neither = PolicyDecision.implicitlyDenied, deny = PolicyDecision.explicitlyDenied(sid: "d")
        func kind(_ d: PolicyDecision) -> String {
            switch d {
            case .allowed: return "allow"
            case .implicitlyDenied: return "implicit"
            case .explicitlyDenied: return "explicit"
            }
        }
        let sides = [allow, neither, deny]
        let tableA = [["allow", "allow", "explicit"], ["allow", "implicit", "explicit"], ["explicit", "explicit", "explicit"]]
        let tableB = [["allow", "implicit", "explicit"], ["implicit", "implicit", "explicit"], ["explicit", "explicit", "explicit"]]
        for (i, identity) in sides.enumerated() {
            for (j, resource) in sides.enumerated() {
                #expect(kind(PolicyEvaluator.combine(identity: identity, resource: resource, sameAccount: true)) == tableA[i][j], "A \(i) \(j)")
                #expect(kind(PolicyEvaluator.combine(identity: identity, resource: resource, sameAccount: false)) == tableB[i][j], "B \(i) \(j)")
            }
        }
    }

    /// Random policies over a small alphabet, evaluated by the engine and by a reference written
    /// independently here (regular-expression-free recursive wildcard matching, plain loops).
    @Test func randomPoliciesAgreeWithAReferenceEvaluator() throws {
        var rng = SplitMix(seed: 0x5EED)
        let words = ["a", "b", "ab", "ba", "*", "a*", "*b", "?", "a?", "*a*"]
        func refMatch(_ p: [Character], _ t: [Character]) -> Bool {
            if p.isEmpty { return t.isEmpty }
            if p[0] == "*" { return refMatch(Array(p.dropFirst()), t) || (!t.isEmpty && refMatch(p, Array(t.dropFirst()))) }
            if t.isEmpty { return false }
            return (p[0] == "?" || p[0] == t[0]) && refMatch(Array(p.dropFirst()), Array(t.dropFirst()))
        }
        for _ in 0..<300 {
            var statements: [(effect: String, notAction: Bool, actions: [String], resources: [String])] = []
            for _ in 0..<(1 + rng.next(4)) {
                statements.append((
                    rng.next(3) == 0 ? "Deny" : "Allow", rng.next(4) == 0,
                    (0..<(1 + rng.next(2))).map { _ in words[rng.next(words.count)] },
                    (0..<(1 + rng.next(2))).map { _ in words[rng.next(words.count)] }))
            }
            let json = "{\"Statement\": [" + statements.map { s in
                let list = { (xs: [String]) in "[" + xs.map { "\"\($0)\"" }.joined(separator: ",") + "]" }
                return "{\"Effect\": \"\(s.effect)\", \"\(s.notAction ? "NotAction" : "Action")\": \(list(s.actions)), \"Resource\": \(list(s.resources))}"
            }.joined(separator: ",") + "]}"
            let policy = try Self.policy(json)
            for action in ["a", "b", "ab", "ba", "aa", ""] {
                for resource in ["a", "ab", "b", "bab"] {
                    var expected = "implicit"
                    for s in statements {
                        let actionHit = s.actions.contains { refMatch(Array($0.lowercased()), Array(action.lowercased())) }
                        guard actionHit != s.notAction, s.resources.contains(where: { refMatch(Array($0), Array(resource)) }) else { continue }
                        if s.effect == "Deny" { expected = "explicit"; break }
                        expected = "allow"
                    }
                    let got = PolicyEvaluator.evaluate([policy], PolicyRequest(principal: nil, action: action, resource: resource))
                    let kind: String
                    switch got {
                    case .allowed: kind = "allow"
                    case .implicitlyDenied: kind = "implicit"
                    case .explicitlyDenied: kind = "explicit"
                    }
                    #expect(kind == expected, "\(json) action \(action) resource \(resource)")
                }
            }
        }
    }
}

/// The policy specialised for anonymous execute-api:Invoke on one API (`AnonymousInvoke`): it
/// must decide exactly as the general evaluator does on the whole method ARN.
@Suite struct AnonymousInvokeTests {
    /// The automaton over text in pieces against the backtracking matcher over the whole text.
    @Test func automatonAgreesWithTheMatcher() {
        var rng = SplitMix(seed: 0xA070)
        let alphabet: [UInt8] = Array("ab/*".utf8)
        for _ in 0..<2000 {
            let pattern = String(decoding: (0..<rng.next(9)).map { _ in alphabet[rng.next(4)] }, as: UTF8.self)
            let text = String(decoding: (0..<rng.next(9)).map { _ in alphabet[rng.next(3)] }, as: UTF8.self)
            let w = Wildcard(pattern)
            guard let a = WildcardAutomaton(w) else {
                Issue.record("no automaton for \(pattern)")
                continue
            }
            let cut = rng.next(text.utf8.count + 1)
            let bytes = Array(text.utf8)
            let d = bytes[..<cut].withUnsafeBytes { a.run(a.start, $0) }
            let end = bytes[cut...].withUnsafeBytes { a.run(d, $0) }
            #expect(a.accepts(end) == w.matches(text), "\(pattern) ~ \(text) cut at \(cut)")
        }
        #expect(WildcardAutomaton(Wildcard("a?")) == nil)
        #expect(WildcardAutomaton(Wildcard(String(repeating: "a", count: 64))) == nil)
        #expect(WildcardAutomaton(Wildcard(String(repeating: "a", count: 63))) != nil)
    }

    /// The benchmark's five statements: every resource is settled by the automaton, none needs the
    /// ARN written out, and two statements (`.../*`) match every method ARN of the API.
    @Test func executeAPIPatternsNeedNoARN() throws {
        let api = "arn:aws:execute-api:eu-west-1:123456789012:benchapi02"
        let json = #"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": ["execute-api:/*/GET/*", "execute-api:/*/DELETE/items/with-a-long-name/*"]}, {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}, {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:eu-west-1:123456789012:otherapi/*"}, {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/alice"}, "Action": "execute-api:Invoke", "Resource": "*"}, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}"#
        let policy = try PolicyDocument.parse(try JSONValue.parse(json), executeAPI: api)
        let invoke = AnonymousInvoke(policy, arnPrefix: api + "/guard/")
        // Another API's resource, a named principal and another action can never apply.
        #expect(invoke.steps.map(\.index) == [0, 1])
        for step in invoke.steps {
            switch step.resources {
            case .general: Issue.record("statement \(step.index) writes out the ARN")
            case .always: #expect(step.index == 1)
            case .after: #expect(step.index == 0)
            }
        }
    }

    /// An authorizer's usual answer, Allow on `*`, decides without looking at the request; a
    /// condition, or a resource naming some methods only, makes it look.
    @Test func policiesThatIgnoreTheRequestAreConstant() throws {
        let api = "arn:aws:execute-api:eu-west-1:123456789012:abc"
        func invoke(_ statements: String) throws -> AnonymousInvoke {
            AnonymousInvoke(try PolicyDocument.parse(try JSONValue.parse(#"{"Statement": ["# + statements + "]}")), arnPrefix: api + "/demo/")
        }
        let allowAll = try invoke(#"{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}"#)
        #expect(allowAll.constant?.decision == .allowed(sid: nil) && !allowAll.hasConditions)
        let denyAfterAllow = try invoke(#"{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Sid": "no", "Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "\#(api)/*"}"#)
        #expect(denyAfterAllow.constant?.decision == .explicitlyDenied(sid: "no") && denyAfterAllow.constant?.statement == 1)
        let nothing = try invoke(#"{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}"#)
        #expect(nothing.constant?.decision == .implicitlyDenied)
        let someMethods = try invoke(#"{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "\#(api)/demo/GET/*"}"#)
        #expect(someMethods.constant == nil)
        let conditional = try invoke(#"{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}"#)
        #expect(conditional.constant == nil && conditional.hasConditions)
    }

    @Test func randomPoliciesDecideAsTheEvaluator() throws {
        var rng = SplitMix(seed: 0xA11)
        let pieces = ["a", "b", "/", "*", "a*", "*/b", "ab/", "?", "p/"]
        let actions = ["execute-api:Invoke", "execute-api:*", "s3:*", "*", "execute-api:Inv?ke"]
        let principals = [nil, #""*""#, #"{"AWS": "*"}"#, #"{"AWS": "123456789012"}"#]
        for _ in 0..<400 {
            var statements: [String] = []
            for _ in 0..<(1 + rng.next(4)) {
                let resources = (0..<(1 + rng.next(2))).map { _ in "\"" + (0..<(1 + rng.next(4))).map { _ in pieces[rng.next(pieces.count)] }.joined() + "\"" }
                var s = "{\"Effect\": \"\(rng.next(3) == 0 ? "Deny" : "Allow")\""
                s += ", \"\(rng.next(5) == 0 ? "NotAction" : "Action")\": \"\(actions[rng.next(actions.count)])\""
                s += ", \"\(rng.next(5) == 0 ? "NotResource" : "Resource")\": [\(resources.joined(separator: ","))]"
                if let p = principals[rng.next(principals.count)] { s += ", \"\(rng.next(6) == 0 ? "NotPrincipal" : "Principal")\": \(p)" }
                statements.append(s + "}")
            }
            let json = "{\"Statement\": [" + statements.joined(separator: ",") + "]}"
            let policy = try PolicyDocument.parse(try JSONValue.parse(json))
            for prefix in ["p/", "p/a", "", "b/"] {
                let invoke = AnonymousInvoke(policy, arnPrefix: prefix)
                for method in ["GET", "a"] {
                    for path in ["/a", "/ab/b", "/", "b"] {
                        let arn = prefix + method + path
                        let want = PolicyEvaluator.explain([policy], PolicyRequest(principal: nil, action: "execute-api:Invoke", resource: arn))
                        let got = Array(method.utf8).withUnsafeBytes { m in
                            Array(path.utf8).withUnsafeBytes { p in invoke.explain(method: m, path: p, context: PolicyKeys()) }
                        }
                        #expect(got.decision == want.decision && got.statement == want.at?.statement, "\(json) on \(arn)")
                        // A constant decision, when there is one, is the same for every ARN.
                        if let constant = invoke.constant {
                            #expect(constant.decision == want.decision && constant.statement == want.at?.statement, "constant: \(json) on \(arn)")
                        }
                    }
                }
            }
        }
    }
}

/// A small deterministic generator for the property test.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}
