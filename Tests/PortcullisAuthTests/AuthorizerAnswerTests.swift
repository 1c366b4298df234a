import PortcullisCore
import PortcullisPolicy
import Testing

@testable import PortcullisAuth

/// Answers of an external authorizer: API Gateway's two forms accepted, anything it refuses
/// refused with the reason (the client sees AUTHORIZER_CONFIGURATION_ERROR), never a partial Allow.
@Suite struct AuthorizerAnswerTests {
    static let arn = "arn:aws:execute-api:eu-west-1:123456789012:abc/demo/GET/x"

    func parse(_ text: String, simple: Bool = false) -> Result<AuthorizerAnswer, AnswerProblem> {
        AuthorizerAnswer.parse(Array(text.utf8), authorizer: "lab", simpleResponses: simple)
    }

    func problem(_ text: String) -> String? {
        if case .failure(let p) = parse(text, simple: true) { return p.description }
        return nil
    }

    @Test func policyFormWithContextAndUsageKey() throws {
        let a = try parse("""
            {"principalId":"alice","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"\(Self.arn)"}]},
             "context":{"role":"admin","n":42,"ok":true,"ratio":1.5},"usageIdentifierKey":"key-value-1"}
            """).get()
        #expect(a.identity.principal == "alice")
        #expect(a.identity.kind == .external)
        #expect(a.identity.authorizer == "lab")
        #expect(a.identity.claims == ["role": "admin", "n": "42", "ok": "true", "ratio": "1.5"])
        #expect(a.identity.usageIdentifierKey == "key-value-1")
        #expect(!a.deniesAll)
        guard case .policy(let doc) = a.verdict else { Issue.record("not a policy"); return }
        #expect(doc.statements.count == 1)
    }

    @Test func simpleForm() throws {
        let yes = try parse(#"{"isAuthorized":true,"context":{"tenant":"t1"}}"#, simple: true).get()
        guard case .simple(true) = yes.verdict else { Issue.record("expected simple true"); return }
        #expect(yes.identity.claims["tenant"] == "t1")
        let no = try parse(#"{"isAuthorized":false}"#, simple: true).get()
        #expect(no.deniesAll)
    }

    @Test func simpleFormNeedsSimpleResponses() {
        // API Gateway has the simple form only for HTTP APIs with enableSimpleResponses.
        for text in [#"{"isAuthorized":true}"#, #"{"isAuthorized":false,"context":{"a":"b"}}"#] {
            guard case .failure(let p) = parse(text) else { Issue.record("\(text) accepted without simple_responses"); continue }
            #expect(p.description.contains("simple_responses"))
        }
    }

    @Test func denyOnlyPolicyIsADenyAnswer() throws {
        let a = try parse(#"{"principalId":"x","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Deny","Resource":"*"}]}}"#).get()
        #expect(a.deniesAll)
    }

    @Test(arguments: [
        ("not json", "not JSON"),
        ("[1,2]", "not a JSON object"),
        (#"{"policyDocument":{"Statement":[]}}"#, "principalId is missing"),
        (#"{"principalId":7,"policyDocument":{"Statement":[]}}"#, "principalId is not a string"),
        (#"{"principalId":"a"}"#, "policyDocument is missing"),
        (#"{"principalId":"a","policyDocument":"Allow"}"#, "policyDocument is not an object"),
        (#"{"principalId":"a","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*","Extra":1}]}}"#, "unknown statement element"),
        (#"{"principalId":"a","policyDocument":{"Statement":[{"Effect":"Maybe","Action":"execute-api:Invoke","Resource":"*"}]}}"#, "Effect is Allow or Deny"),
        (#"{"principalId":"a","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]},"context":{"o":{"a":1}}}"#, "context.o is an object"),
        (#"{"principalId":"a","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]},"context":{"l":[1]}}"#, "context.l is an array"),
        (#"{"principalId":"a","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]},"context":{"z":null}}"#, "context.z is null"),
        (#"{"principalId":"a","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]},"context":"x"}"#, "context is not an object"),
        (#"{"principalId":"a","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]},"usageIdentifierKey":5}"#, "usageIdentifierKey is not a string"),
        (#"{"principalId":"a","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]},"statusCode":200}"#, "unexpected member statusCode"),
        (#"{"isAuthorized":"yes"}"#, "isAuthorized is not a boolean"),
        (#"{"isAuthorized":true,"principalId":"a"}"#, "unexpected member principalId in a simple answer"),
        (#"{"principalId":"a","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]},"context":{"h":"a\nb"}}"#, "control character"),
    ])
    func malformedAnswersAreRefused(_ text: String, _ expected: String) {
        let p = problem(text)
        #expect(p?.contains(expected) == true, "\(text) -> \(p ?? "accepted")")
    }

    @Test func resourceStringsOver512AreRefused() {
        let long = "arn:aws:execute-api:eu-west-1:123456789012:abc/demo/GET/" + String(repeating: "a", count: 500)
        let p = problem(#"{"principalId":"a","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":["*","\#(long)"]}]}}"#)
        #expect(p?.contains("512") == true)
    }

    /// Mutated answers (bytes flipped, dropped, duplicated) never crash the parser, and whatever
    /// it accepts is a complete answer of one of the two forms.
    @Test func mutatedAnswersNeverCrash() {
        let seed = Array(#"{"principalId":"alice","context":{"role":"admin","n":1,"b":true},"usageIdentifierKey":"k","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":["arn:aws:execute-api:*"],"Condition":{"StringEquals":{"context:role":"admin"}}}]}}"#.utf8)
        var rng = SystemRandomNumberGenerator()
        var accepted = 0
        for _ in 0..<3000 {
            var b = seed
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<b.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: b[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: b.remove(at: i)
                default: b.insert(b[i], at: i)
                }
                if b.isEmpty { b = [0x7B] }
            }
            if case .success(let a) = AuthorizerAnswer.parse(b, authorizer: "lab") {
                accepted += 1
                switch a.verdict {
                case .policy(let doc): #expect(!doc.statements.isEmpty)
                case .simple: break
                }
            }
        }
        #expect(accepted < 3000)
    }

    @Test func deeplyNestedAnswersAreRefusedWithoutCrashing() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(problem(#"{"principalId":"a","policyDocument":\#(deep)}"#) != nil)
    }
}
