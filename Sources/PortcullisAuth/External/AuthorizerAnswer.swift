public import PortcullisCore
public import PortcullisPolicy

/// One answer of an external authorizer, checked and compiled once (then cached and shared by
/// every loop; immutable). API Gateway's two output forms (shared/AWS_SEMANTICS.md §1.3):
/// the policy form `{principalId, policyDocument, context, usageIdentifierKey}` and the simple
/// form `{isAuthorized, context}`.
public final class AuthorizerAnswer: Sendable {
    public enum Verdict: Sendable {
        case policy(PolicyDocument)
        case simple(Bool)
    }

    public let verdict: Verdict
    /// principalId, context (stringified) and usageIdentifierKey, as later phases read them.
    public let identity: Identity
    /// Bytes the answer holds, roughly (body size): the cache's byte bound counts this.
    public let bytes: Int
    /// The answer denies every request (only Deny statements, or `isAuthorized: false`): cached
    /// with `deny_ttl`.
    public let deniesAll: Bool
    /// The policy as the list the evaluator takes, made once (empty for a simple answer).
    let policies: [PolicyDocument]
    /// The policy compiled for the API the call was made for (the cache keeps an answer per API
    /// and stage): a cached hit on that API decides on the method and path bytes, without the
    /// method ARN written out (`AnonymousInvoke`).
    let invoke: (api: AuthRequest.APIRef, program: AnonymousInvoke)?
    /// `invoke`'s constant decision, when its policy ignores the request (an Allow on `*`):
    /// read on every cached hit without copying the program out of the tuple.
    let constantDecision: PolicyDecision?

    init(verdict: Verdict, identity: Identity, bytes: Int, invoke: (api: AuthRequest.APIRef, program: AnonymousInvoke)? = nil) {
        self.verdict = verdict
        self.identity = identity
        self.bytes = bytes
        self.invoke = invoke
        constantDecision = invoke?.program.constant?.decision
        switch verdict {
        case .simple(let ok):
            deniesAll = !ok
            policies = []
        case .policy(let doc):
            deniesAll = doc.statements.allSatisfy { $0.effect == .Deny }
            policies = [doc]
        }
    }

    /// This answer with its policy compiled for `api`.
    func compiled(for api: AuthRequest.APIRef) -> AuthorizerAnswer {
        guard case .policy(let doc) = verdict else { return self }
        return AuthorizerAnswer(
            verdict: verdict, identity: identity, bytes: bytes,
            invoke: (api, AnonymousInvoke(doc, arnPrefix: api.arnPrefix, action: ExternalAuthorizer.action)))
    }

    static let policyKeys: Set<String> = ["principalId", "policyDocument", "context", "usageIdentifierKey"]
    static let simpleKeys: Set<String> = ["isAuthorized", "context"]
    /// API Gateway's limit on a resource string in an authorizer's policy.
    static let maxResourceLength = 512

    /// Parses an answer body. Anything API Gateway would refuse is an error naming the problem
    /// (the caller turns it into AUTHORIZER_CONFIGURATION_ERROR); never a partial answer.
    public static func parse(_ body: [UInt8], authorizer: String, simpleResponses: Bool = false) -> Result<AuthorizerAnswer, AnswerProblem> {
        let json: JSONValue
        do {
            json = try JSONValue.parse(body, maxDepth: 16)
        } catch {
            return .failure(AnswerProblem("not JSON: \(error)"))
        }
        return make(json, bytes: body.count, authorizer: authorizer, simpleResponses: simpleResponses)
    }

    /// The answer of an already parsed body of `bytes` bytes. The simple form is accepted only
    /// with `simpleResponses` (API Gateway has it only for HTTP APIs with enableSimpleResponses).
    public static func make(_ json: JSONValue, bytes: Int, authorizer: String, simpleResponses: Bool = false)
        -> Result<AuthorizerAnswer, AnswerProblem>
    {
        guard let top = json.objectValue else { return .failure(AnswerProblem("the answer is not a JSON object")) }
        let context: [String: String]
        switch parseContext(top["context"]) {
        case .success(let c): context = c
        case .failure(let p): return .failure(p)
        }
        if let ok = top["isAuthorized"] {
            guard simpleResponses else {
                return .failure(AnswerProblem("a simple answer (isAuthorized) from an authorizer without simple_responses: true"))
            }
            for key in top.keys.sorted() where !simpleKeys.contains(key) {
                return .failure(AnswerProblem("unexpected member \(key) in a simple answer (isAuthorized, context)"))
            }
            guard case .bool(let allowed) = ok else { return .failure(AnswerProblem("isAuthorized is not a boolean")) }
            let identity = Identity(principal: "", authorizer: authorizer, kind: .external, claims: context)
            return .success(AuthorizerAnswer(verdict: .simple(allowed), identity: identity, bytes: bytes))
        }
        for key in top.keys.sorted() where !policyKeys.contains(key) {
            return .failure(AnswerProblem("unexpected member \(key) (principalId, policyDocument, context, usageIdentifierKey)"))
        }
        guard let principalValue = top["principalId"] else { return .failure(AnswerProblem("principalId is missing")) }
        guard let principal = principalValue.stringValue else { return .failure(AnswerProblem("principalId is not a string")) }
        guard let policyJSON = top["policyDocument"] else { return .failure(AnswerProblem("policyDocument is missing")) }
        guard policyJSON.objectValue != nil else { return .failure(AnswerProblem("policyDocument is not an object")) }
        if let long = longResource(policyJSON) {
            return .failure(AnswerProblem("a Resource is \(long) characters long; API Gateway allows \(maxResourceLength)"))
        }
        let policy: PolicyDocument
        do {
            policy = try PolicyDocument.parse(policyJSON)
        } catch {
            return .failure(AnswerProblem("policyDocument: \(error)"))
        }
        var usageKey: String? = nil
        if let u = top["usageIdentifierKey"], u != .null {
            guard let s = u.stringValue else { return .failure(AnswerProblem("usageIdentifierKey is not a string")) }
            usageKey = s
        }
        var identity = Identity(principal: principal, authorizer: authorizer, kind: .external, claims: context)
        identity.usageIdentifierKey = usageKey
        return .success(AuthorizerAnswer(verdict: .policy(policy), identity: identity, bytes: bytes))
    }

    /// `context`: strings, numbers and booleans only (API Gateway refuses objects and arrays),
    /// each handed on as text.
    static func parseContext(_ value: JSONValue?) -> Result<[String: String], AnswerProblem> {
        guard let value, value != .null else { return .success([:]) }
        guard let o = value.objectValue else { return .failure(AnswerProblem("context is not an object")) }
        var out: [String: String] = [:]
        for (k, v) in o {
            switch v {
            case .string, .number, .bool: out[k] = v.claimText
            case .null: return .failure(AnswerProblem("context.\(k) is null; values are strings, numbers or booleans"))
            case .array, .object:
                return .failure(AnswerProblem("context.\(k) is an \(v.arrayValue != nil ? "array" : "object"); values are strings, numbers or booleans"))
            }
            // Context values reach upstream headers and logs: no control characters.
            if let t = out[k], t.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
                return .failure(AnswerProblem("context.\(k) holds a control character"))
            }
        }
        return .success(out)
    }

    /// The length of the first Resource string over the limit, if any.
    static func longResource(_ policy: JSONValue) -> Int? {
        guard let st = policy["Statement"] else { return nil }
        for s in st.arrayValue ?? [st] {
            for key in ["Resource", "NotResource"] {
                guard let r = s[key] else { continue }
                for x in r.arrayValue ?? [r] {
                    if let t = x.stringValue, t.utf8.count > maxResourceLength { return t.utf8.count }
                }
            }
        }
        return nil
    }
}

/// Why an answer was refused (logged; the client sees AUTHORIZER_CONFIGURATION_ERROR).
public struct AnswerProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
