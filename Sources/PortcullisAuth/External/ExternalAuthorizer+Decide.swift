public import NIOCore
import PortcullisConfig
public import PortcullisCore
public import PortcullisPolicy

/// Turning an authorizer's answer into this request's decision, as API Gateway does
/// (shared/AWS_SEMANTICS.md §1.4, §5.4): the returned policy is evaluated against the current
/// method ARN on every request, cached or not (so a policy naming only the first method denies
/// the others for the whole TTL: API Gateway's known trap, kept faithfully unless
/// `on_policy_miss: reauthorize`), then combined with the resource policy by Table A.
extension ExternalAuthorizer {
    static let action = "execute-api:Invoke"
    static let explicitDeny = "User is not authorized to access this resource with an explicit deny"
    static let implicitDeny = "User is not authorized to access this resource"

    /// Phase 1 of a resource policy beside a Lambda authorizer: an explicit Deny for the
    /// anonymous caller refuses before the authorizer is asked.
    func resourcePolicyDeniesFirst(_ request: AuthRequest, _ route: RouteAuthPolicy) -> Refusal? {
        guard route.resourcePolicy != nil else { return nil }
        let arn = request.methodARN
        let context = RequestConditions(request: request, identity: nil, now: Int64(clock.now()))
        guard case .explicitlyDenied(let sid) = PolicyEvaluator.evaluate(route.resourcePolicies, PolicyRequest(principal: nil, action: Self.action, resource: arn, context: context))
        else { return nil }
        return Refusal(
            .ACCESS_DENIED, message: "User: anonymous is not authorized to perform: \(Self.action) on resource: \(arn) with an explicit deny",
            reason: "resource policy denied explicitly before the authorizer" + (sid.map { " (statement \($0))" } ?? ""))
    }

    /// The decision for a call's result (fresh, joined, or stale-if-error).
    func conclude(_ result: CallResult, _ request: AuthRequest, _ route: RouteAuthPolicy, key: AuthorizerCache.Key?, cached: Bool, _ loop: any EventLoop) -> EventLoopFuture<AuthDecision> {
        switch result {
        case .answer(let a):
            return decide(a, request, route, key: key, cached: cached, now: clock.now(), loop).future(on: loop)
        case .unauthorized:
            return loop.makeSucceededFuture(.refuse(Refusal(.UNAUTHORIZED, reason: "\(name): the authorizer answered Unauthorized")))
        case .misconfigured(let why):
            return loop.makeSucceededFuture(.refuse(Refusal(.AUTHORIZER_CONFIGURATION_ERROR, reason: "\(name): \(why)")))
        case .failed(let why):
            return loop.makeSucceededFuture(.refuse(Refusal(.AUTHORIZER_FAILURE, reason: "\(name): \(why)")))
        }
    }

    /// The answer against this request: allow with the answer's identity, or ACCESS_DENIED.
    /// `key`: the base cache key when a cached policy that misses this method may be asked again
    /// (`on_policy_miss: reauthorize`); nil when it may not.
    /// `now`: the clock as the caller read it for this request (one read per request).
    func decide(
        _ answer: AuthorizerAnswer, _ request: AuthRequest, _ route: RouteAuthPolicy, key: AuthorizerCache.Key?, cached: Bool, now: Double,
        _ loop: any EventLoop
    ) -> AuthResult {
        // Written out only when a path below needs the whole ARN (the general evaluator, a
        // denial's message, a re-ask).
        lazy var arn = request.methodARN
        let identitySide: PolicyDecision
        switch answer.verdict {
        case .simple(true): identitySide = .allowed(sid: nil)
        case .simple(false):
            // HTTP APIs' answer to `isAuthorized: false`: 403 {"message":"Forbidden"} (lower-case
            // key, unlike the REST policy denials of ACCESS_DENIED).
            return .now(.refuse(Refusal(.FORBIDDEN, reason: "\(name): isAuthorized false")))
        case .policy:
            // The program compiled for the API the call was made for serves every API with the
            // same ARN prefix: after a reload the API is a new object, the cached answers stay.
            if let api = answer.invoke?.api, api === request.api || api.arnPrefix == request.api.arnPrefix,
                let constant = answer.constantDecision
            {
                // Every statement names all of the API's methods, none has a condition.
                identitySide = constant
            } else if let (api, program) = answer.invoke, api === request.api || api.arnPrefix == request.api.arnPrefix {
                // The request's condition values only when a statement has conditions (an
                // authorizer's policy seldom does): building them copies the headers, the
                // listener's names and the identity.
                if program.hasConditions {
                    let context = RequestConditions(request: request, identity: answer.identity, now: Int64(now))
                    identitySide = request.withMethodARNSuffix((program, context)) { pc, method, path in
                        pc.0.explain(method: method, path: path, context: pc.1).decision
                    }
                } else {
                    identitySide = request.withMethodARNSuffix(program) { program, method, path in
                        program.explain(method: method, path: path, context: NoConditions()).decision
                    }
                }
            } else {
                let context = RequestConditions(request: request, identity: answer.identity, now: Int64(now))
                identitySide = PolicyEvaluator.evaluate(answer.policies, PolicyRequest(principal: nil, action: Self.action, resource: arn, context: context))
            }
        }
        var decision = identitySide
        var resourceSide: PolicyDecision? = nil
        if route.resourcePolicy != nil {
            let context = RequestConditions(request: request, identity: answer.identity, now: Int64(now))
            let r = PolicyEvaluator.evaluate(route.resourcePolicies, PolicyRequest(principal: nil, action: Self.action, resource: arn, context: context))
            resourceSide = r
            // Table A: a Lambda authorizer's policy is in the API's own account.
            decision = PolicyEvaluator.combine(identity: identitySide, resource: r, sameAccount: true)
        }
        switch decision {
        case .allowed:
            return .now(.allow(answer.identity))
        case .explicitlyDenied(let sid):
            if case .explicitlyDenied? = resourceSide, !isExplicitDeny(identitySide) {
                return .now(.refuse(Refusal(
                    .ACCESS_DENIED, message: "User: anonymous is not authorized to perform: \(Self.action) on resource: \(arn) with an explicit deny",
                    reason: "resource policy denied explicitly" + (sid.map { " (statement \($0))" } ?? ""))))
            }
            return .now(.refuse(Refusal(.ACCESS_DENIED, message: Self.explicitDeny, reason: "\(name): policy denies \(arn) explicitly" + (sid.map { " (statement \($0))" } ?? ""))))
        case .implicitlyDenied:
            if cached, onPolicyMiss == .reauthorize, let key, let cache {
                // Beyond API Gateway: ask again for this method ARN, through the cache under a key
                // of its own (single flight; the base entry stays for the methods it allows). The
                // answer to that question is decided without asking again (`reaskKey: nil`).
                let methodKey = Self.methodKey(key, methodARN: arn)
                return ask(cache, key: methodKey, request, route, now: now, reaskKey: nil, loop)
            }
            return .now(.refuse(Refusal(.ACCESS_DENIED, message: Self.implicitDeny, reason: "\(name): no statement allows \(arn)" + (cached ? " (cached answer)" : ""))))
        }
    }

    private func isExplicitDeny(_ d: PolicyDecision) -> Bool {
        if case .explicitlyDenied = d { return true }
        return false
    }
}
