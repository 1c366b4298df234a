/// A resource policy specialised, when it loads, for the question the gateway asks on every
/// request that carries no IAM principal: may an anonymous caller perform `execute-api:Invoke` on
/// a method ARN of this one API? The answer is the one `PolicyEvaluator` gives; what does not
/// depend on the request is settled here once:
/// - statements whose Action or Principal can never fit are dropped;
/// - each Resource pattern has already read the ARN's fixed part
///   (`arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/`), so `.../*` is known to match and a pattern
///   of another API to match nothing; a request runs the rest over its method and path bytes,
///   without the ARN being written out;
/// - conditions stay per request, with values from the request's context.
public struct AnonymousInvoke: Sendable {
    /// One statement that can apply, with its place in the document (`explain`'s answer).
    /// A class: a request walks the steps holding one reference each, not copies of their lists.
    @usableFromInline
    final class Step: Sendable {
        @usableFromInline let deny: Bool
        @usableFromInline let sid: String?
        @usableFromInline let index: Int
        @usableFromInline let resources: ResourceTest
        @usableFromInline let conditions: [PolicyCondition]

        init(deny: Bool, sid: String?, index: Int, resources: ResourceTest, conditions: [PolicyCondition]) {
            self.deny = deny
            self.sid = sid
            self.index = index
            self.resources = resources
            self.conditions = conditions
        }
    }

    /// What the statement's Resource (or NotResource) says of this API's method ARNs.
    @usableFromInline
    enum ResourceTest: Sendable {
        /// Every method ARN of the API (`.../*`, or a NotResource of another API).
        case always
        /// Patterns still open after the ARN's fixed part, each with its state there; `negated`
        /// for NotResource.
        case after([(WildcardAutomaton, UInt64)], negated: Bool)
        /// A pattern the automaton does not take (`?`, very long): the ARN is written out.
        case general([Wildcard], negated: Bool)
    }

    @usableFromInline let steps: [Step]
    /// The ARN's fixed part the patterns were run over.
    public let arnPrefix: String
    /// Some statement that can apply has a Condition: without one, `explain` never reads its
    /// context, and a caller may pass `NoConditions()` instead of building the request's.
    public let hasConditions: Bool
    /// The decision for every method ARN of the API, when no statement that can apply depends on
    /// the request (each names all the API's resources, none has a condition): an authorizer's
    /// usual `Allow` on `*`. Nil when `explain` must look at the request.
    public let constant: (decision: PolicyDecision, statement: Int?)?

    /// `policy` for the method ARNs that start with `arnPrefix`.
    public init(_ policy: PolicyDocument, arnPrefix: String, action: String = "execute-api:Invoke") {
        self.arnPrefix = arnPrefix
        var steps: [Step] = []
        for (i, s) in policy.statements.enumerated() {
            if s.actions.contains(where: { $0.matches(action) }) == s.notAction { continue }
            if let principals = s.principals, principals.contains(where: { $0.matches(nil) }) == s.notPrincipal { continue }
            guard let test = Self.resourceTest(s.resources, negated: s.notResource, arnPrefix: arnPrefix) else { continue }
            steps.append(Step(deny: s.effect == .Deny, sid: s.sid, index: i, resources: test, conditions: s.conditions))
        }
        self.steps = steps
        hasConditions = steps.contains { !$0.conditions.isEmpty }
        if !hasConditions, steps.allSatisfy({ if case .always = $0.resources { return true } else { return false } }) {
            // As `explain` would find it: the first Deny, else the first Allow, else none.
            if let deny = steps.first(where: \.deny) {
                constant = (.explicitlyDenied(sid: deny.sid), deny.index)
            } else if let allow = steps.first {
                constant = (.allowed(sid: allow.sid), allow.index)
            } else {
                constant = (.implicitlyDenied, nil)
            }
        } else {
            constant = nil
        }
    }

    /// Nil: the statement's resources can match no method ARN of this API.
    static func resourceTest(_ patterns: [Wildcard], negated: Bool, arnPrefix: String) -> ResourceTest? {
        var open: [(WildcardAutomaton, UInt64)] = []
        var matchesAll = false
        let fixed = Array(arnPrefix.utf8)
        for w in patterns {
            // The pattern's literal head (`arn:aws:execute-api:REGION:ACCOUNT:API/`) is compared
            // with the fixed part here; the automaton is made of the rest, which keeps it short.
            if w.ignoreCase { return .general(patterns, negated: negated) }
            let p = w.pattern
            let head = p.firstIndex(where: { $0 == 0x2A || $0 == 0x3F }) ?? p.count
            let n = min(head, fixed.count)
            guard p[..<n].elementsEqual(fixed[..<n]) else { continue }  // another API: never
            guard let a = WildcardAutomaton(pattern: p[n...]) else { return .general(patterns, negated: negated) }
            let d = fixed[n...].withUnsafeBytes { a.run(a.start, $0) }
            if d == 0 { continue }
            if d & a.acceptsAnyRest != 0 { matchesAll = true; break }
            open.append((a, d))
        }
        // Resource: one pattern matching every ARN decides; none left open matches nothing.
        // NotResource: the reverse.
        if matchesAll { return negated ? nil : .always }
        if open.isEmpty { return negated ? .always : nil }
        return .after(open, negated: negated)
    }

    /// The decision and the statement (its index in the document) that made it, for a request
    /// whose method ARN is `arnPrefix` + `method` + `path`.
    @inlinable
    public func explain<C: PolicyContext>(
        method: UnsafeRawBufferPointer, path: UnsafeRawBufferPointer, context: C
    ) -> (decision: PolicyDecision, statement: Int?) {
        var allow: (PolicyDecision, Int)? = nil
        for step in steps where applies(step, method: method, path: path, context: context) {
            if step.deny { return (.explicitlyDenied(sid: step.sid), step.index) }
            if allow == nil { allow = (.allowed(sid: step.sid), step.index) }
        }
        return allow.map { ($0.0, $0.1) } ?? (.implicitlyDenied, nil)
    }

    @inlinable
    func applies<C: PolicyContext>(_ s: Step, method: UnsafeRawBufferPointer, path: UnsafeRawBufferPointer, context: C) -> Bool {
        switch s.resources {
        case .always: break
        case .after(let open, let negated):
            var hit = false
            for (a, d) in open where a.accepts(a.run(a.run(d, method), path)) {
                hit = true
                break
            }
            if hit == negated { return false }
        case .general(let patterns, let negated):
            let text = arn(method: method, path: path)
            if patterns.contains(where: { $0.matches(text) }) == negated { return false }
        }
        for c in s.conditions where !c.holds(in: context) { return false }
        return true
    }

    /// The whole method ARN, for the rare pattern the automaton does not take.
    @usableFromInline
    func arn(method: UnsafeRawBufferPointer, path: UnsafeRawBufferPointer) -> String {
        arnPrefix + String(decoding: method, as: UTF8.self) + String(decoding: path, as: UTF8.self)
    }
}
