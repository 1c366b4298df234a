/// Who the caller is, as established by the authorizer chain. Later steps (resource policy,
/// API keys, header mapping, access log) read it; the proxy core never interprets it.
public struct Identity: Sendable {
    /// What kind of authorizer vouched for it: resource policies combine with each kind by its
    /// own rule (API Gateway's tables; docs/ARCHITECTURE.md, "Resource policy").
    public enum Kind: Sendable, Equatable {
        /// A JWT or Cognito user-pool token: the resource policy alone must allow.
        case jwt
        /// A SigV4-signed request: identity policies and resource policy together.
        case iam
        /// An external (Lambda-style) authorizer.
        case external
        /// Only an API key (a route with `api_key_required` and no authorizer).
        case apiKey
    }

    /// The principal (`sub`, an IAM user ARN, an API key id, ...).
    public var principal: String
    /// Which authorizer established it.
    public var authorizer: String
    public var kind: Kind
    /// Claims or context values (`$context.authorizer.claims.NAME`, `$context.authorizer.KEY`).
    public var claims: [String: String]
    /// Claims that are lists (`cognito:groups`), one entry per element: multi-valued condition
    /// keys for policies (`ForAnyValue:StringEquals` on `claims:cognito:groups`).
    public var listClaims: [String: [String]]
    /// Headers the authorizer asks to send upstream (`forward_claims`, mapped identity);
    /// the proxy adds them after removing any client-sent header of the same name.
    public var upstreamHeaders: [(String, String)]
    /// Lower-case names of request headers that carried the credentials the authorizer checked
    /// (a SigV4 Authorization header, its session token): they do not go upstream.
    public var consumedHeaders: [String]
    /// The API key the request came with, once the API-key phase accepted it
    /// (`$context.identity.apiKeyId`), and the usage plan it was admitted under.
    public var apiKeyID: String? = nil
    public var usagePlan: String? = nil
    /// The accepted key's place in the snapshot's key table: the throttle and quota phases find
    /// the key's buckets and counter by it, without a lookup by name. -1: no key.
    public var apiKeySlot: Int = -1
    /// The API key value an external authorizer returned (`usageIdentifierKey`), read by the
    /// API-key phase when the API's `api_key_source` is `AUTHORIZER`.
    public var usageIdentifierKey: String? = nil

    public init(
        principal: String, authorizer: String, kind: Kind = .external, claims: [String: String] = [:],
        listClaims: [String: [String]] = [:], upstreamHeaders: [(String, String)] = [], consumedHeaders: [String] = []
    ) {
        self.principal = principal
        self.authorizer = authorizer
        self.kind = kind
        self.claims = claims
        self.listClaims = listClaims
        self.upstreamHeaders = upstreamHeaders
        self.consumedHeaders = consumedHeaders
    }
}
