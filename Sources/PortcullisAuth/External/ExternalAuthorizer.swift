public import Logging
public import NIOCore
public import PortcullisConfig
public import PortcullisCore
public import PortcullisHTTPClient
import Synchronization

/// The `type: token` / `type: request` authorizer: API Gateway's Lambda authorizer as an HTTP
/// service (docs/ARCHITECTURE.md, "External authorizers"). Immutable and shared by every loop;
/// its mutable parts are the result cache (sharded) and a counter of calls in flight (atomic).
///
/// One request's path:
/// 1. the identity values (absent: abstain, 401 without a call; TOKEN: the validation regex);
/// 2. the resource policy's explicit Deny, before any call (API Gateway's phase 1);
/// 3. the cache: a hit is evaluated at once; a miss leads a call or joins one in flight;
/// 4. the answer's policy evaluated against this request's method ARN, then Table A with the
///    resource policy (`ExternalAuthorizer+Decide.swift`).
public final class ExternalAuthorizer: Sendable {
    public let name: String
    public let kind: ExternalAuthorizerConfig.Kind
    public let url: HTTPURL?
    let sources: [ExternalAuthorizerConfig.IdentitySource]
    /// The kind the parser records for the one header source when it has one (`Authorization`,
    /// `Cookie`, ...): the field is found by kind, without reading names. `.other` for a name the
    /// parser does not classify, or other sources (found by name).
    let headerKind: HeaderKind
    let validation: CompiledRegex?
    let timeout: TimeAmount
    /// nil: `ttl` is 0, every request calls.
    public let cache: AuthorizerCache?
    let onPolicyMiss: ExternalAuthorizerConfig.PolicyMiss
    /// `simple_responses`: the `{"isAuthorized": ...}` form is an answer, not a misconfiguration.
    let simpleResponses: Bool
    /// The shape of a request authorizer's event (REST, or an HTTP API's 1.0 or 2.0).
    let payloadFormat: ExternalAuthorizerConfig.PayloadFormat
    let maxConcurrentCalls: Int
    let client: HTTPClient?
    let clock: JWTClock
    let logger: Logger
    private let inFlight = Atomic<Int>(0)

    init(
        config c: ExternalAuthorizerConfig, client: HTTPClient?, clock: JWTClock, logger: Logger
    ) {
        name = c.name
        kind = c.kind
        url = HTTPURL(c.url)
        sources = c.identitySources
        if c.identitySources.count == 1, case .header(let header) = c.identitySources[0] {
            headerKind = HeaderKind(name: header)
        } else {
            headerKind = .other
        }
        validation = c.validation.flatMap { try? Regex($0) }.map(CompiledRegex.init)
        timeout = TimeAmount(c.timeout)
        let ttl = Self.seconds(c.cache.ttl)
        // No identity sources, no key: only a request authorizer without a cache has none.
        cache = ttl > 0 && !c.identitySources.isEmpty
            ? AuthorizerCache(.init(
                ttl: ttl, denyTTL: c.cache.denyTTL.map(Self.seconds) ?? ttl, maxEntries: c.cache.maxEntries,
                maxBytes: Int(clamping: c.cache.maxBytes), staleIfError: Self.seconds(c.staleIfError),
                refreshAhead: Self.seconds(c.cache.refreshAhead)))
            : nil
        onPolicyMiss = c.onPolicyMiss
        simpleResponses = c.simpleResponses
        payloadFormat = c.payloadFormat
        maxConcurrentCalls = c.maxConcurrentCalls
        self.client = client
        self.clock = clock
        self.logger = logger
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Calls in flight now (for tests and the metrics endpoint).
    public var callsInFlight: Int { inFlight.load(ordering: .relaxed) }

    // MARK: Per request

    /// The longest method ARN API Gateway hands a Lambda authorizer.
    public static let maxMethodARNBytes = 1600

    public func evaluate(_ request: AuthRequest, route: RouteAuthPolicy, on loop: any EventLoop) -> AuthResult {
        // API Gateway builds the method ARN for its authorizer and refuses one over 1,600 bytes
        // with 414, before anything else (shared/AWS_SEMANTICS.md §1.3, §1.6).
        // Measured only when a bound says it may be too long: the ARN's path is at most the
        // request's (or "/"), and the method's name is a literal's count.
        let prefixLength = request.api.arnPrefix.utf8.count
        if prefixLength + request.head.method.name.utf8.count + Int(request.head.pathLength) + 1 > Self.maxMethodARNBytes,
            case let arnLength = request.withMethodARNSuffix(prefixLength, { prefix, method, path in prefix + method.count + path.count }),
            arnLength > Self.maxMethodARNBytes
        {
            return .now(.refuse(Refusal(.REQUEST_URI_TOO_LONG, reason: "\(name): method ARN of \(arnLength) bytes, over \(Self.maxMethodARNBytes)")))
        }
        if sources.isEmpty {
            // A request authorizer with `ttl: 0s` and no identity sources (API Gateway needs them
            // only for caching): nothing can be absent, every request calls.
            if let denied = resourcePolicyDeniesFirst(request, route) { return .now(.refuse(denied)) }
            return .later(call(request, route, on: loop).flatMap { self.conclude($0, request, route, key: nil, cached: false, loop) })
        }
        let now = clock.now()
        // The key is looked up as a probe (no allocation). The closure captures neither the
        // request nor `self`: capturing the request copied it (a retain for each of its
        // references), and retaining the authorizer goes through its side table. A hit skips the
        // checks below: its key passed them when it was called for, and the resource policy's
        // explicit Deny still wins in `decide` (Table A).
        let cache = self.cache
        let reauthorize = onPolicyMiss == .reauthorize
        let probe = withIdentityKey(request, route) { key in Self.probe(key, cache, reauthorize: reauthorize, now: now) }
        let missed: AuthorizerCache.Key?
        switch probe {
        case nil:
            // API Gateway: 401 without invoking; inside any_of the next alternative gets its turn.
            return .now(.abstain(Refusal(.UNAUTHORIZED, reason: "\(name): identity source absent (\(sourcesText))")))
        case .hit(let answer, let renewKey, let reaskKey)?:
            if let renewKey { renew(renewKey, request, route, on: loop) }
            return decide(answer, request, route, key: reaskKey, cached: true, now: now, loop)
        case .miss(let key)?:
            missed = key
        }
        if let validation, (try? validation.regex.wholeMatch(in: token(request, route) ?? "")) == nil {
            return .now(.refuse(Refusal(.UNAUTHORIZED, reason: "\(name): token does not match the validation expression")))
        }
        if let denied = resourcePolicyDeniesFirst(request, route) { return .now(.refuse(denied)) }
        guard let cache, let key = missed else {
            return .later(call(request, route, on: loop).flatMap { self.conclude($0, request, route, key: nil, cached: false, loop) })
        }
        return ask(cache, key: key, request, route, now: now, reaskKey: key, loop)
    }

    /// What the cache holds for a request's key (`evaluate`).
    enum Probe {
        /// A fresh answer; `renewKey` when it is due for refresh-ahead, `reaskKey` when a policy
        /// that misses this method may be asked again (`on_policy_miss: reauthorize`). Both are
        /// owned copies of the key, made only in those cases.
        case hit(AuthorizerAnswer, renewKey: AuthorizerCache.Key?, reaskKey: AuthorizerCache.Key?)
        /// Nothing usable (or no cache): the owned key for the call, nil without a cache.
        case miss(AuthorizerCache.Key?)
    }

    /// Static, so the closure that calls it need not capture `self`: capturing the authorizer
    /// retained it through its side table (the registry's weak reference), about 100 ns a request.
    private static func probe(_ key: AuthorizerCache.Key, _ cache: AuthorizerCache?, reauthorize: Bool, now: Double) -> Probe {
        guard let cache else { return .miss(nil) }
        guard let (answer, refresh) = cache.fresh(key, now: now) else { return .miss(key.owned) }
        return .hit(answer, renewKey: refresh ? key.owned : nil, reaskKey: reauthorize ? key.owned : nil)
    }

    /// The cache's lookup for `key`: a hit decided at once, or a call led or joined (single
    /// flight). `reaskKey` goes on to `decide`: the base key (a policy miss may ask again for the
    /// method), or nil for an answer that was itself asked for this method.
    func ask(
        _ cache: AuthorizerCache, key: AuthorizerCache.Key, _ request: AuthRequest, _ route: RouteAuthPolicy, now: Double,
        reaskKey: AuthorizerCache.Key?,
        _ loop: any EventLoop
    ) -> AuthResult {
        switch cache.lookup(key, now: now, on: loop) {
        case .hit(let answer, let refresh):
            if refresh { renew(key, request, route, on: loop) }
            return decide(answer, request, route, key: reaskKey, cached: true, now: now, loop)
        case .join(let future):
            return .later(future.flatMap { self.conclude($0, request, route, key: reaskKey, cached: false, loop) })
        case .lead(let future):
            call(request, route, on: loop).whenSuccess { result in
                cache.complete(key: key, with: result, now: self.clock.now())
            }
            return .later(future.flatMap { self.conclude($0, request, route, key: reaskKey, cached: false, loop) })
        }
    }

    /// Caches `answer` under the identity values of `request`, as a call that returned it would
    /// (compiled for the request's API). False when the request lacks an identity value or the
    /// authorizer has no cache. For the micro-benchmark of a cached route; requests never call it.
    public func remember(_ answer: AuthorizerAnswer, for request: AuthRequest) -> Bool {
        guard let cache, let key = identityKey(request, .none) else { return false }
        cache.store(key: key, answer: answer.compiled(for: request.api), now: clock.now())
        return true
    }

    /// Refresh-ahead: a call in the background; the entry keeps serving until it is replaced.
    private func renew(_ key: AuthorizerCache.Key, _ request: AuthRequest, _ route: RouteAuthPolicy, on loop: any EventLoop) {
        call(request, route, on: loop).whenSuccess { result in
            self.cache?.complete(key: key, with: result, now: self.clock.now())
        }
    }

    var sourcesText: String { sources.map(\.description).joined(separator: ", ") }

    // MARK: The call

    /// POSTs the event and classifies what comes back. Never fails: every outcome is a value.
    func call(_ request: AuthRequest, _ route: RouteAuthPolicy, on loop: any EventLoop) -> EventLoopFuture<CallResult> {
        guard let client, let url else {
            return loop.makeSucceededFuture(.failed("\(name): not callable (compiled offline or invalid url)"))
        }
        if inFlight.wrappingAdd(1, ordering: .relaxed).newValue > maxConcurrentCalls {
            inFlight.wrappingSubtract(1, ordering: .relaxed)
            return loop.makeSucceededFuture(.failed("\(name): \(maxConcurrentCalls) calls already in flight"))
        }
        let arn = request.methodARN
        let body: [UInt8]
        switch kind {
        case .token: body = AuthorizerEvent.token(token(request, route) ?? "", methodARN: arn)
        case .request:
            let values = { self.sources.compactMap { $0.value(in: request, stageVariables: route.stageVariables) } }
            switch payloadFormat {
            case .rest: body = AuthorizerEvent.request(request, methodARN: arn, stageVariables: route.stageVariables, now: clock.now())
            case .v1:
                body = AuthorizerEvent.request(
                    request, methodARN: arn, stageVariables: route.stageVariables, now: clock.now(), httpAPIv1: values())
            case .v2:
                body = AuthorizerEvent.requestV2(
                    request, routeARN: arn, identityValues: values(), stageVariables: route.stageVariables, now: clock.now())
            }
        }
        // Asking again is harmless: an authorizer only answers a question.
        let http = HTTPClientRequest(
            method: "POST", url: url,
            headers: [("Content-Type", "application/json"), ("Accept", "application/json"), ("User-Agent", "portcullis")],
            body: body, retryable: true)
        let name = self.name
        let simple = simpleResponses
        return client.execute(http, timeout: timeout, on: loop).map { response in
            Self.classify(response, authorizer: name, simpleResponses: simple)
        }.recover { error in
            if case HTTPClientError.tooLarge(let n)? = error as? HTTPClientError {
                return .misconfigured("answer larger than \(n) bytes")
            }
            return .failed("\(error)")
        }.always { _ in
            self.inFlight.wrappingSubtract(1, ordering: .relaxed)
        }.map { result in
            self.log(result, request)
            // Compiled once here, for every request the cache will answer with it.
            if case .answer(let a) = result { return .answer(a.compiled(for: request.api)) }
            return result
        }
    }

    /// The HTTP side of the adapter contract (docs/ARCHITECTURE.md): 200 with the answer; 401, or
    /// a Lambda error payload `{"errorMessage":"Unauthorized"}`, for "Unauthorized"; 502-504 as
    /// the authorizer being unreachable; anything else as the function failing.
    static func classify(_ r: HTTPClientResponse, authorizer: String, simpleResponses: Bool = false) -> CallResult {
        if r.status == 401 { return .unauthorized }
        guard let json = try? JSONValue.parse(r.body, maxDepth: 16) else {
            if r.status == 200 { return .misconfigured("the answer is not JSON") }
            return (502...504).contains(r.status) ? .failed("the authorizer answered \(r.status)") : .misconfigured("the authorizer answered \(r.status)")
        }
        if let o = json.objectValue, o["principalId"] == nil, o["isAuthorized"] == nil, let m = o["errorMessage"]?.stringValue {
            return m == "Unauthorized" ? .unauthorized : .misconfigured("the authorizer raised: \(m.prefix(200))")
        }
        switch r.status {
        case 200:
            switch AuthorizerAnswer.make(json, bytes: r.body.count, authorizer: authorizer, simpleResponses: simpleResponses) {
            case .success(let a): return .answer(a)
            case .failure(let p): return .misconfigured(p.description)
            }
        case 502, 503, 504: return .failed("the authorizer answered \(r.status)")
        default: return .misconfigured("the authorizer answered \(r.status)")
        }
    }

    private func log(_ result: CallResult, _ request: AuthRequest) {
        switch result {
        case .answer, .unauthorized: return
        case .misconfigured(let why):
            logger.warning("external authorizer answer refused", metadata: ["authorizer": "\(name)", "request_id": "\(request.requestID)", "reason": "\(why)"])
        case .failed(let why):
            logger.warning("external authorizer call failed", metadata: ["authorizer": "\(name)", "request_id": "\(request.requestID)", "reason": "\(why)"])
        }
    }
}

/// The compiled step of one route: the shared authorizer and the route's policy.
///
/// A class: admission copies a route's step out of its phase list on every request, and a
/// struct's copy retained the authorizer and each of the policy's arrays and dictionary, the
/// authorizer through its side table (the registry holds it weakly), which takes the slow path.
/// A class's copy is one plain retain.
public final class ExternalStep: Sendable {
    public let authorizer: ExternalAuthorizer
    public let route: RouteAuthPolicy

    public init(authorizer: ExternalAuthorizer, route: RouteAuthPolicy = .none) {
        self.authorizer = authorizer
        self.route = route
    }

    public func evaluate(_ request: AuthRequest, on loop: any EventLoop) -> AuthResult {
        authorizer.evaluate(request, route: route, on: loop)
    }
}

extension TimeAmount {
    init(_ d: Duration) {
        let (s, atto) = d.components
        self = .nanoseconds(s * 1_000_000_000 + atto / 1_000_000_000)
    }
}
