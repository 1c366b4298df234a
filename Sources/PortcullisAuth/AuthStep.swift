public import NIOCore
public import PortcullisCore
public import PortcullisPolicy

/// One compiled authorizer as a route uses it. A `switch` over this enum runs a step: no
/// existential on the hot path.
public enum AuthStep: Sendable {
    case ip(IPRule)
    /// A JWT authorizer with the route's scopes and claim rules (`JWT/JWTAuthorizer.swift`).
    case jwt(JWTStep)
    /// SigV4-signed requests against known access keys (`SigV4/SigV4Step.swift`).
    case sigv4(SigV4Step)
    /// An HTTP service answering Lambda-authorizer events (`External/ExternalAuthorizer.swift`).
    case external(ExternalStep)

    public var name: String {
        switch self {
        case .ip(let r): return r.name
        case .jwt(let s): return s.authorizer.name
        case .sigv4(let s): return s.name
        case .external(let s): return s.authorizer.name
        }
    }

    /// The step reads the request body (SigV4 signs its hash): routes that run it hold the body
    /// until admission ends.
    public var needsBody: Bool {
        if case .sigv4 = self { return true }
        return false
    }

    /// Whether the step can answer yet (a remote key set loaded): for readiness reporting.
    public var isReady: Bool {
        switch self {
        case .ip, .sigv4, .external: return true
        case .jwt(let s): return s.authorizer.isReady
        }
    }

    /// The step as one route uses it: the route's policy (scopes, claim rules) bound in.
    func forRoute(_ route: RouteAuthPolicy) -> AuthStep {
        switch self {
        case .ip, .sigv4: return self
        case .jwt(let s): return .jwt(JWTStep(authorizer: s.authorizer, route: route))
        case .external(let s): return .external(ExternalStep(authorizer: s.authorizer, route: route))
        }
    }

    /// Runs the step. Synchronous steps answer at once; asynchronous ones with a future on `loop`.
    public func evaluate(_ request: AuthRequest, on loop: any EventLoop) -> AuthResult {
        switch self {
        case .ip(let rule): return .now(rule.decide(request))
        case .jwt(let step): return step.evaluate(request, on: loop)
        case .sigv4(let step): return .now(step.decide(request, on: loop))
        case .external(let step): return step.evaluate(request, on: loop)
        }
    }
}

public typealias AuthResult = Eventually<AuthDecision>

/// What a route adds to the authorizers it names, whatever their kind: the scopes a token must
/// carry one of, and claim rules. (The route's ARN is derived from the request: `AuthRequest.methodARN`.)
public struct RouteAuthPolicy: Sendable {
    public var scopes: [String]
    public var claims: [ClaimRule]
    /// The API's resource policy: an external authorizer applies its explicit Deny before calling
    /// and combines it with the returned policy (Table A).
    public var resourcePolicy: PolicyDocument? { didSet { resourcePolicies = resourcePolicy.map { [$0] } ?? [] } }
    /// `resourcePolicy` as the list the evaluator takes, made once (not an array per request).
    public private(set) var resourcePolicies: [PolicyDocument]
    /// The API's stage variables (external authorizers' events and identity sources).
    public var stageVariables: [String: String]

    public init(scopes: [String] = [], claims: [ClaimRule] = [], resourcePolicy: PolicyDocument? = nil, stageVariables: [String: String] = [:]) {
        self.scopes = scopes
        self.claims = claims
        self.resourcePolicy = resourcePolicy
        self.resourcePolicies = resourcePolicy.map { [$0] } ?? []
        self.stageVariables = stageVariables
    }

    public static let none = RouteAuthPolicy()
}
