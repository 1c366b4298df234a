public import Logging
public import NIOCore
public import PortcullisConfig
public import PortcullisCore

/// One compiled authorizer. A `switch` over this enum runs a step: no existential on the hot path.
/// Later issues add cases (jwt, sigv4, api key, external) with their compiled state.
public enum AuthStep: Sendable {
    case ip(IPRule)
    /// A JWT authorizer with the route's scopes and claim rules (`JWT/JWTAuthorizer.swift`).
    case jwt(JWTStep)

    public var name: String {
        switch self {
        case .ip(let r): return r.name
        case .jwt(let s): return s.authorizer.name
        }
    }

    /// Whether the step can answer yet (a remote key set loaded): for readiness reporting.
    public var isReady: Bool {
        switch self {
        case .ip: return true
        case .jwt(let s): return s.authorizer.isReady
        }
    }

    /// The step as one route uses it: route-level settings (scopes, claim rules) bound in.
    func forRoute(_ route: JWTRoutePolicy) -> AuthStep {
        switch self {
        case .ip: return self
        case .jwt(let s): return .jwt(JWTStep(authorizer: s.authorizer, route: route))
        }
    }

    /// Runs the step. Synchronous steps answer at once; asynchronous ones return a future on `loop`.
    public func evaluate(_ request: AuthRequest, on loop: any EventLoop) -> AuthResult {
        switch self {
        case .ip(let rule): return .decided(rule.decide(request))
        case .jwt(let step): return step.evaluate(request, on: loop)
        }
    }
}

public enum AuthResult: Sendable {
    case decided(AuthDecision)
    case pending(EventLoopFuture<AuthDecision>)
}

/// A route's `auth:` list: every requirement must allow; an `anyOf` requirement allows when one of
/// its steps does. The last identity established wins (later steps refine earlier ones).
public struct AuthChain: Sendable {
    public enum Requirement: Sendable {
        case step(AuthStep)
        case anyOf([AuthStep])
    }

    public let requirements: [Requirement]

    public init(_ requirements: [Requirement]) { self.requirements = requirements }

    public static let open = AuthChain([])

    public var isOpen: Bool { requirements.isEmpty }

    public func evaluate(_ request: AuthRequest, on loop: any EventLoop) -> AuthResult {
        evaluate(from: 0, identity: nil, request, loop)
    }

    private func evaluate(from index: Int, identity: Identity?, _ request: AuthRequest, _ loop: any EventLoop) -> AuthResult {
        var identity = identity
        var i = index
        while i < requirements.count {
            let result: AuthResult
            switch requirements[i] {
            case .step(let step): result = step.evaluate(request, on: loop)
            case .anyOf(let steps): result = AuthChain.firstAllowing(steps, 0, nil, request, loop)
            }
            switch result {
            case .decided(.allow(let id)):
                if let id { identity = id }
            case .decided(.refuse):
                return result
            case .pending(let future):
                let next = i + 1
                let sofar = identity
                return .pending(
                    future.flatMap { decision in
                        switch decision {
                        case .refuse: return loop.makeSucceededFuture(decision)
                        case .allow(let id):
                            switch self.evaluate(from: next, identity: id ?? sofar, request, loop) {
                            case .decided(let d): return loop.makeSucceededFuture(d)
                            case .pending(let f): return f
                            }
                        }
                    })
            }
            i += 1
        }
        return .decided(.allow(identity))
    }

    /// `any_of`: the first step that allows wins; if none does, the first refusal is the answer
    /// (the order in the config says which refusal the client should see).
    private static func firstAllowing(
        _ steps: [AuthStep], _ index: Int, _ firstRefusal: Refusal?, _ request: AuthRequest, _ loop: any EventLoop
    ) -> AuthResult {
        var firstRefusal = firstRefusal
        var i = index
        while i < steps.count {
            switch steps[i].evaluate(request, on: loop) {
            case .decided(.allow(let id)): return .decided(.allow(id))
            case .decided(.refuse(let r)): if firstRefusal == nil { firstRefusal = r }
            case .pending(let f):
                let next = i + 1
                let refusal = firstRefusal
                return .pending(
                    f.flatMap { d in
                        switch d {
                        case .allow: return loop.makeSucceededFuture(d)
                        case .refuse(let r):
                            switch firstAllowing(steps, next, refusal ?? r, request, loop) {
                            case .decided(let d2): return loop.makeSucceededFuture(d2)
                            case .pending(let f2): return f2
                            }
                        }
                    })
            }
            i += 1
        }
        return .decided(.refuse(firstRefusal ?? Refusal(.UNAUTHORIZED, reason: "no authorizer allowed")))
    }
}

/// What compiled authorizers may use beyond their config: event loops for background work
/// (key-set refresh, external calls), a logger, and whether network fetches are allowed at all
/// (`portcullis check` compiles offline).
public struct AuthEnvironment: Sendable {
    public let group: (any EventLoopGroup)?
    public let logger: Logger
    public let online: Bool

    public init(group: (any EventLoopGroup)?, logger: Logger, online: Bool) {
        self.group = group
        self.logger = logger
        self.online = online
    }

    public static let offline = AuthEnvironment(group: nil, logger: Logger(label: "portcullis.check"), online: false)
}

/// Turns a route's `auth:` list into a chain of compiled steps.
public enum AuthCompiler {
    public static func compile(
        _ list: [AuthRequirementConfig], authorizers: [String: AuthStep], scopes: [String] = [],
        claims: [ClaimRuleConfig] = []
    ) -> AuthChain {
        let route = JWTRoutePolicy(scopes: scopes, claims: claims.compactMap { try? ClaimRule($0) })
        func step(_ name: String) -> AuthStep? { name == "none" ? nil : authorizers[name]?.forRoute(route) }
        var out: [AuthChain.Requirement] = []
        for item in list {
            switch item {
            case .step(let name):
                if let s = step(name) { out.append(.step(s)) }
            case .anyOf(let names):
                // `none` among the alternatives makes the requirement always pass.
                if names.contains("none") { continue }
                out.append(.anyOf(names.compactMap(step)))
            }
        }
        return AuthChain(out)
    }

    /// Problems that only show when key material is built (a PEM key OpenSSL refuses, an RSA key
    /// under 2048 bits, a key set file without a usable key): for `portcullis check` and reloads,
    /// which otherwise compile such an authorizer into one that answers 500. Never fetches.
    public static func validate(_ configs: [String: AuthorizerConfig], file: String) -> [ConfigIssue] {
        var out: [ConfigIssue] = []
        for (name, c) in configs.sorted(by: { $0.key < $1.key }) {
            guard case .jwt(let j) = c.kind, let problem = JWTAuthorizer.keyProblem(j) else { continue }
            out.append(ConfigIssue(file: file, line: 0, column: 0, keyPath: "authorizers.\(name)", message: problem))
        }
        return out
    }

    public static func compileSteps(_ configs: [String: AuthorizerConfig], environment: AuthEnvironment) -> [String: AuthStep] {
        var out: [String: AuthStep] = [:]
        for (name, c) in configs {
            switch c.kind {
            case .ip(let allow, let deny): out[name] = .ip(IPRule(name: name, allow: allow, deny: deny))
            case .jwt(let j): out[name] = .jwt(JWTStep(authorizer: JWTAuthorizer.compile(j, environment: environment)))
            }
        }
        return out
    }
}
