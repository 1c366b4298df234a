/// A `type: token` or `type: request` authorizer: API Gateway's Lambda authorizer, as an HTTP
/// service that takes the event by POST (docs/ARCHITECTURE.md, "External authorizers").
public struct ExternalAuthorizerConfig: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// One token from one identity source; the event is `{type, authorizationToken, methodArn}`.
        case token
        /// Headers, query, path parameters, stage variables and the request context.
        case request
    }

    /// Where an identity value comes from. Header names are lower-cased at load.
    public enum IdentitySource: Sendable, Equatable, CustomStringConvertible {
        case header(String)
        case query(String)
        /// `context.NAME`: a `$context` variable (sourceIp, httpMethod, resourcePath, path, stage,
        /// apiId, accountId, requestId, userAgent, routeKey).
        case context(String)
        case stageVariable(String)

        public var description: String {
            switch self {
            case .header(let n): return "header.\(n)"
            case .query(let n): return "query.\(n)"
            case .context(let n): return "context.\(n)"
            case .stageVariable(let n): return "stage_variable.\(n)"
            }
        }
    }

    /// The event a request authorizer is POSTed: API Gateway's REST shape, or an HTTP API's
    /// `AuthorizerPayloadFormatVersion` 1.0 or 2.0 (shared/AWS_SEMANTICS.md §1.2).
    public enum PayloadFormat: String, Sendable, Equatable {
        case rest
        case v1 = "1.0"
        case v2 = "2.0"
    }

    /// What to do when a cached policy names no statement for this request's method ARN.
    public enum PolicyMiss: String, Sendable, Equatable {
        /// 403, as API Gateway answers.
        case deny
        /// Ask the authorizer again, once, for this method ARN (beyond API Gateway).
        case reauthorize
    }

    public struct Cache: Sendable, Equatable {
        /// 0 disables the cache (every request calls the authorizer); API Gateway's default and maximum.
        public var ttl: Duration = .seconds(300)
        /// How long an answer that denies (an explicit Deny everywhere, `isAuthorized: false`) is kept.
        public var denyTTL: Duration? = nil
        public var maxEntries: Int = 100_000
        public var maxBytes: Int64 = 64 << 20
        /// Renew an entry that is hit within this time before it expires (0: off).
        public var refreshAhead: Duration = .zero
        public init() {}

        /// The cache is split into this many shards by key hash, each bounded by its share of
        /// `maxEntries` and `maxBytes` (so check refuses bounds too small to share out).
        public static let shards = 16
        /// What an entry costs beside its key and answer body (slot, queue record, identity).
        public static let entryOverhead = 256
        /// The smallest `maxBytes` that leaves every shard room for one answer of `maxAnswerBytes`.
        public static func leastBytes(maxAnswerBytes: Int) -> Int64 {
            Int64(shards) * Int64(maxAnswerBytes + entryOverhead)
        }
    }

    public var name: String
    public var kind: Kind
    /// `http://` or `https://`; POSTed with the event as JSON.
    public var url: String
    public var identitySources: [IdentitySource]
    /// Token only: the identity value must match this whole (else 401 without a call).
    public var validation: String? = nil
    /// Connect + answer, per call.
    public var timeout: Duration = .seconds(10)
    public var cache = Cache()
    /// Serve the last answer for up to this long after it expired while the authorizer fails.
    public var staleIfError: Duration = .zero
    public var onPolicyMiss: PolicyMiss = .deny
    /// Calls in flight at once; more fail at once with AUTHORIZER_FAILURE (a hanging authorizer
    /// cannot take every connection and promise).
    public var maxConcurrentCalls: Int = 1024
    /// The largest answer body accepted; a larger one is AUTHORIZER_CONFIGURATION_ERROR.
    public var maxAnswerBytes: Int = 64 << 10
    /// PEM bundle trusted for an https URL instead of the system store.
    public var caFile: String? = nil
    /// A digest of `caFile`'s contents when loaded: a reload after the file was rewritten (a
    /// rotated CA) sees changed settings and builds a new TLS client.
    public var caFileDigest: String? = nil
    /// Accept API Gateway's simple answer `{"isAuthorized": ..., "context": ...}` (HTTP APIs'
    /// `enableSimpleResponses`). Off: such an answer is AUTHORIZER_CONFIGURATION_ERROR.
    public var simpleResponses = false
    /// Request authorizers only: the event's shape.
    public var payloadFormat = PayloadFormat.rest

    public init(name: String, kind: Kind, url: String, identitySources: [IdentitySource]) {
        self.name = name
        self.kind = kind
        self.url = url
        self.identitySources = identitySources
    }

    /// Every setting, in one line: a reload keeps an authorizer's cache only when this is unchanged.
    public var description: String {
        "\(kind) \(url) \(identitySources) validation=\(validation ?? "") timeout=\(timeout) cache=\(cache) "
            + "stale=\(staleIfError) miss=\(onPolicyMiss) calls=\(maxConcurrentCalls) answer=\(maxAnswerBytes) ca=\(caFile ?? "")@\(caFileDigest ?? "") simple=\(simpleResponses) payload=\(payloadFormat.rawValue)"
    }
}
