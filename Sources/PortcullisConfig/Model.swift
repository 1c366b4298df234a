public import PortcullisPolicy
public import PortcullisCore

/// A whole, validated config file. Immutable once loaded; a reload builds a new one.
public struct PortcullisConfig: Sendable {
    public var file: String
    /// nil means one event loop per core.
    public var workers: Int?
    public var listeners: [ListenerConfig]
    public var limits: LimitsConfig
    public var accessLog: AccessLogConfig
    /// The share of requests answered below 400 that get an access-log line (`access_log.sample`,
    /// 0...1); refusals and errors are always logged. A route may set its own (`access_log_sample`).
    public var accessLogSample: Double = 1
    public var trustedProxies: [CIDR]
    public var shutdownGrace: Duration
    public var apis: [APIConfig]
    public var authorizers: [String: AuthorizerConfig]
    public var upstreams: [String: UpstreamConfig]
    public var gatewayResponses: [GatewayResponseType: GatewayResponseOverride]
    /// Where quota counters live (`state_dir`, relative to the config file).
    public var stateDir: String? = nil
    /// The admin listener (`admin:`): health, readiness and Prometheus metrics; nil: none.
    public var admin: AdminConfig? = nil
    /// Where `run` writes its process id (`pid_file`, relative to the config file), for
    /// `portcullis reload` and service managers; nil: nowhere.
    public var pidFile: String? = nil
    /// The default throttle of every API stage (API Gateway's account level); nil: none.
    public var throttle: ThrottleConfig? = nil
    public var usagePlans: [String: UsagePlanConfig] = [:]
    public var apiKeys: [APIKeyConfig] = []
    /// Add the IETF RateLimit-Policy and RateLimit fields to 429 answers (beyond API Gateway).
    public var rateLimitHeaders: Bool = false
    /// When the quota store cannot be opened or written: count in memory and admit (`open`, API
    /// Gateway's choice), or refuse requests that need a quota with 500 (`closed`).
    public var failClosedOnStoreError: Bool = false
    /// Problems that did not stop the config from loading.
    public var warnings: [ConfigIssue] = []
    /// What `ConfigDiff` compares between two loads, by `kind/name`.
    public var fingerprints: [String: String] = [:]
    /// SHA-256 of the file's text as loaded, lower-case hex (`sha256sum` of an unchanged file).
    public var sha256: String = ""
}

public struct ListenerConfig: Sendable, Equatable {
    public var name: String
    public var host: String
    public var port: Int
    /// A private listener: only APIs of endpoint type private answer here (issue: private APIs).
    public var isPrivate: Bool
    /// The aws:SourceVpce value of requests arriving here.
    public var vpce: String?
    /// The aws:SourceVpc value of requests arriving here.
    public var vpc: String? = nil
    public var tls: TLSListenerConfig?
}

public struct TLSListenerConfig: Sendable, Equatable {
    public struct Certificate: Sendable, Equatable {
        public var cert: String
        public var key: String
    }
    public enum ClientAuth: String, Sendable, Equatable { case none, optional, require }
    public var certificates: [Certificate]
    public var minVersion: TLSMinimumVersion
    public var ciphers: String?
    /// Key-exchange groups (`groups:`), colon-separated; nil: Mozilla intermediate's X25519, P-256, P-384.
    public var groups: String? = nil
    public var clientAuth: ClientAuth
    public var clientCA: String?
    public var sessionTickets: Bool
    /// Send the verified client certificate's fields upstream as X-Client-Cert-* headers.
    public var forwardClientCert: Bool
}

public struct LimitsConfig: Sendable, Equatable {
    public var maxHeadBytes: Int = 16 * 1024
    public var maxHeaders: Int = 100
    /// The longest header field line a client may send (`limits.max_header_line_bytes`), 431 above.
    public var maxHeaderLineBytes: Int = 8192
    public var maxBodyBytes: Int64 = 10 * 1024 * 1024
    public var headerTimeout: Duration = .seconds(10)
    public var idleTimeout: Duration = .seconds(60)
    public var maxConnections: Int = 10_000
    public init() {}
}

public enum AccessLogConfig: Sendable, Equatable {
    case off
    case stdout
    case file(String)
}

public enum NotFoundStyle: String, Sendable {
    /// 403 Missing Authentication Token, as REST APIs answer.
    case rest
    /// 404 Not Found, as HTTP APIs answer.
    case http
}

/// A host pattern: exact (`api.example.com`), wildcard (`*.example.com`) or any (`*`).
public enum HostPattern: Sendable, Equatable, CustomStringConvertible {
    case any
    case exact(String)
    case suffix(String)

    public init(_ text: String) {
        let t = text.lowercased()
        if t == "*" {
            self = .any
        } else if t.hasPrefix("*.") {
            self = .suffix(String(t.dropFirst(1)))
        } else {
            self = .exact(t)
        }
    }

    public var description: String {
        switch self {
        case .any: return "*"
        case .exact(let h): return h
        case .suffix(let s): return "*" + s
        }
    }
}

/// Where an API answers, as API Gateway's endpoint types: everywhere, or only on private listeners.
public enum APIEndpointType: String, Sendable {
    case regional
    case `private`
}

public struct APIConfig: Sendable {
    /// `endpoint:`; a private API answers only on listeners marked `private: true`.
    public var endpoint: APIEndpointType = .regional
    public var name: String
    public var id: String
    /// Base path without slashes; empty for an API served at the root.
    public var stage: String
    public var region: String
    public var account: String
    public var hosts: [HostPattern]
    public var listeners: [String]
    public var notFound: NotFoundStyle
    public var routes: [RouteConfig]
    public var gatewayResponses: [GatewayResponseType: GatewayResponseOverride]
    /// `resource_policy:` (a file or inline), compiled; its short resources (`execute-api:/*`)
    /// expanded with this API's region, account and id.
    public var resourcePolicy: PolicyDocument? = nil
    /// The stage's throttle (API Gateway's stage default method throttling).
    public var throttle: ThrottleConfig? = nil
    /// Where `api_key_required` routes read the key.
    public var apiKeySource: APIKeySource = .header
    /// API Gateway's stage variables: sent in external authorizers' REQUEST events, and usable
    /// as their identity sources (`stage_variable.NAME`).
    public var stageVariables: [String: String] = [:]
}

/// One entry of a route's `auth:` list: every entry must allow; `any_of` allows if one does.
public enum AuthRequirementConfig: Sendable, Equatable {
    /// The built-in `none`: no authorization (alone, or as one of `any_of`'s alternatives).
    case none
    case step(String)
    case anyOf([String])

    /// The name that stands for `none` in `auth:` lists; no authorizer may take it.
    public static let noneName = "none"
}

/// The methods a route answers: `ANY`, or a list of upper-case names.
public enum RouteMethods: Sendable, Equatable {
    case any
    case only([String])

    /// The name that stands for `any` in `methods:` lists.
    public static let anyName = "ANY"
}

public struct RouteConfig: Sendable {
    public var path: String
    public var methods: RouteMethods
    public var upstream: String
    public var auth: [AuthRequirementConfig]
    public var websocket: Bool
    public var setHeaders: [(String, String)]
    public var removeHeaders: [String]
    public var timeout: Duration?
    public var maxBodyBytes: Int64?
    /// API Gateway authorization scopes: a JWT authorizer on this route needs one of them in the
    /// token's `scope`/`scp` (and, Cognito-style, an access token rather than an ID token).
    public var scopes: [String] = []
    /// Claim rules a JWT authorizer on this route checks in addition to its own.
    public var claims: [ClaimRuleConfig] = []
    /// Where the route starts in its file, for messages about it at runtime.
    public var line: Int
    /// API Gateway's `apiKeyRequired`: a key of a usage plan of this API stage must come along.
    public var apiKeyRequired: Bool = false
    /// The route's own throttle (API Gateway's method throttling), optionally per client or principal.
    public var throttle: ThrottleConfig? = nil
    /// The route's own access-log sample rate (`access_log_sample`); nil: the global one.
    public var accessLogSample: Double? = nil
}

public struct AuthorizerConfig: Sendable {
    public enum Kind: Sendable {
        /// Allow/deny by client address. Deny wins; an empty allow list allows everyone not denied.
        case ip(allow: [CIDR], deny: [CIDR])
        /// Bearer tokens (JWS) checked against an OIDC issuer, a key set, a PEM key or a secret.
        case jwt(JWTAuthorizerConfig)
        /// SigV4-signed requests (`execute-api`) checked against known access keys.
        case sigv4(SigV4AuthorizerConfig)
        /// An HTTP service answering API Gateway's Lambda-authorizer events (`type: token|request`).
        case external(ExternalAuthorizerConfig)
    }
    public var name: String
    public var kind: Kind
}

public struct UpstreamConfig: Sendable {
    public enum Balance: String, Sendable {
        case roundRobin = "round_robin"
        case leastOutstanding = "least_outstanding"
    }
    public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
        public var scheme: String
        public var host: String
        public var port: Int
        public var description: String { "\(scheme)://\(host):\(port)" }
    }
    public var name: String
    public var endpoints: [Endpoint]
    public var balance: Balance
    public var connectTimeout: Duration
    public var timeout: Duration
    public var maxConnectionsPerLoop: Int
    /// TLS to `https://` endpoints: trust roots, hostname check, optional client certificate.
    public var tls: UpstreamTLSConfig?
    /// How long an endpoint that refused a connection is left out (doubles per failure, capped at 30 s).
    public var ejectBase: Duration
}

public struct UpstreamTLSConfig: Sendable, Equatable {
    /// PEM bundle of trusted CAs; nil uses the system store.
    public var ca: String?
    public var verify: Bool
    /// SNI and the name checked in the certificate; defaults to the endpoint's host.
    public var serverName: String?
    public var cert: String?
    public var key: String?
}

public struct GatewayResponseOverride: Sendable, Equatable {
    public var status: Int?
    public var headers: [String: String]
    public var body: String?
}

/// The oldest TLS version a listener accepts (`min_version`).
public enum TLSMinimumVersion: String, Sendable, CaseIterable {
    case tls12 = "1.2"
    case tls13 = "1.3"
}

/// `type: sigv4`: the access keys that may sign, and the clock skew allowed.
public struct SigV4AuthorizerConfig: Sendable {
    public var keys: [SigV4KeyConfig] = []
    /// `policies_dir`: identity policies by user, role and group. Nil: every active key may
    /// invoke (subject to the resource policy), as before identity policies existed.
    public var policies: IdentityPolicySet? = nil
    /// API Gateway allows 5 minutes each way.
    public var maxSkew: Duration = .seconds(300)
    public init() {}
}

/// One access key, from `credentials_file` or an inline `credentials` list.
public struct SigV4KeyConfig: Sendable {
    public var accessKeyID: String
    public var secret: String
    /// `arn:aws:iam::ACCOUNT:user/NAME` (or a role session ARN).
    public var principal: String
    public var active: Bool
    /// Temporary credentials: the token requests must carry and when it expires (seconds since 1970).
    public var sessionToken: String?
    public var expires: Int64?
    /// The IAM groups whose policies (`policies_dir/groups/NAME.json`) apply to this key's principal.
    public var groups: [String] = []
}

/// `admin: { listen: "127.0.0.1:9901", token: "${ADMIN_TOKEN}" }`: a listener apart from the
/// traffic listeners, for operators and scrapers.
public struct AdminConfig: Sendable, Equatable {
    public var host: String = "127.0.0.1"
    public var port: Int = 9901
    /// When set, every request needs `Authorization: Bearer <token>`.
    public var token: String? = nil
    public init() {}
}
