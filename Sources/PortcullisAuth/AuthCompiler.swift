public import Logging
public import NIOCore
public import PortcullisConfig
public import PortcullisCore
public import PortcullisPolicy

/// What compiled authorizers may use beyond their config: event loops for background work
/// (key-set refresh, external calls), a logger, and whether network fetches are allowed at all
/// (`portcullis check` compiles offline).
public struct AuthEnvironment: Sendable {
    public let group: (any EventLoopGroup)?
    public let logger: Logger
    public let online: Bool
    /// Running external authorizers (and their caches) that outlive a snapshot: a server keeps
    /// one for its life and passes it to every reload.
    public let externalAuthorizers: ExternalAuthorizerRegistry

    public init(
        group: (any EventLoopGroup)?, logger: Logger, online: Bool, externalAuthorizers: ExternalAuthorizerRegistry = ExternalAuthorizerRegistry()
    ) {
        self.group = group
        self.logger = logger
        self.online = online
        self.externalAuthorizers = externalAuthorizers
    }

    public static let offline = AuthEnvironment(group: nil, logger: Logger(label: "portcullis.check"), online: false)
}

/// Turns authorizer configs into compiled steps, and a route's `auth:` list into requirements.
public enum AuthCompiler {
    /// The requirements of one route, in the order of its `auth:` list (`none` entries dropped).
    public static func compile(
        _ list: [AuthRequirementConfig], authorizers: [String: AuthStep], scopes: [String] = [],
        claims: [ClaimRuleConfig] = [], resourcePolicy: PolicyDocument? = nil, stageVariables: [String: String] = [:]
    ) -> [AuthRequirement] {
        let route = RouteAuthPolicy(
            scopes: scopes, claims: claims.compactMap { try? ClaimRule($0) }, resourcePolicy: resourcePolicy, stageVariables: stageVariables)
        var out: [AuthRequirement] = []
        for item in list {
            switch item {
            case .none:
                continue
            case .step(let name):
                if let s = authorizers[name] { out.append(.step(s.forRoute(route))) }
            case .anyOf(let names):
                out.append(.anyOf(names.compactMap { authorizers[$0]?.forRoute(route) }))
            }
        }
        return out
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
            case .sigv4(let s): out[name] = .sigv4(SigV4Step.compile(name: name, s, group: environment.group))
            case .external(let e): out[name] = .external(ExternalStep(authorizer: ExternalAuthorizer.compile(e, environment: environment)))
            }
        }
        return out
    }
}
