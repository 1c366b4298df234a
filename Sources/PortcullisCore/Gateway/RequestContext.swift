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
    public var principal: String {
        get { storage.principal }
        set { unique().principal = newValue }
    }
    /// Which authorizer established it.
    public var authorizer: String {
        get { storage.authorizer }
        set { unique().authorizer = newValue }
    }
    public var kind: Kind {
        get { storage.kind }
        set { unique().kind = newValue }
    }
    /// Claims or context values (`$context.authorizer.claims.NAME`, `$context.authorizer.KEY`).
    public var claims: [String: String] {
        get { storage.claims }
        set { unique().claims = newValue }
    }
    /// Claims that are lists (`cognito:groups`), one entry per element: multi-valued condition
    /// keys for policies (`ForAnyValue:StringEquals` on `claims:cognito:groups`).
    public var listClaims: [String: [String]] {
        get { storage.listClaims }
        set { unique().listClaims = newValue }
    }
    /// Headers the authorizer asks to send upstream (`forward_claims`, mapped identity);
    /// the proxy adds them after removing any client-sent header of the same name.
    public var upstreamHeaders: [(String, String)] {
        get { storage.upstreamHeaders }
        set { unique().upstreamHeaders = newValue }
    }
    /// Lower-case names of request headers that carried the credentials the authorizer checked
    /// (a SigV4 Authorization header, its session token): they do not go upstream.
    public var consumedHeaders: [String] {
        get { storage.consumedHeaders }
        set { unique().consumedHeaders = newValue }
    }
    /// The API key the request came with, once the API-key phase accepted it
    /// (`$context.identity.apiKeyId`), and the usage plan it was admitted under.
    public var apiKeyID: String? {
        get { storage.apiKeyID }
        set { unique().apiKeyID = newValue }
    }
    public var usagePlan: String? {
        get { storage.usagePlan }
        set { unique().usagePlan = newValue }
    }
    /// The accepted key's place in the snapshot's key table: the throttle and quota phases find
    /// the key's buckets and counter by it, without a lookup by name. -1: no key.
    public var apiKeySlot: Int {
        get { storage.apiKeySlot }
        set { unique().apiKeySlot = newValue }
    }
    /// The API key value an external authorizer returned (`usageIdentifierKey`), read by the
    /// API-key phase when the API's `api_key_source` is `AUTHORIZER`.
    public var usageIdentifierKey: String? {
        get { storage.usageIdentifierKey }
        set { unique().usageIdentifierKey = newValue }
    }

    /// The fields, in one object shared by copies until one of them changes (copy on write):
    /// an identity passes from the phase that made it through the admission driver into the
    /// request, the upstream head and the access log, and each of those copies is one retain
    /// instead of one per field (benchmarks/README.md, "Entering admission").
    private var storage: Storage

    private final class Storage: @unchecked Sendable {
        // Changed only through `unique()`, when no other identity shares this object.
        var principal: String
        var authorizer: String
        var kind: Kind
        var claims: [String: String]
        var listClaims: [String: [String]]
        var upstreamHeaders: [(String, String)]
        var consumedHeaders: [String]
        var apiKeyID: String? = nil
        var usagePlan: String? = nil
        var apiKeySlot = -1
        var usageIdentifierKey: String? = nil

        init(
            principal: String, authorizer: String, kind: Kind, claims: [String: String], listClaims: [String: [String]],
            upstreamHeaders: [(String, String)], consumedHeaders: [String]
        ) {
            self.principal = principal
            self.authorizer = authorizer
            self.kind = kind
            self.claims = claims
            self.listClaims = listClaims
            self.upstreamHeaders = upstreamHeaders
            self.consumedHeaders = consumedHeaders
        }

        func copy() -> Storage {
            let c = Storage(
                principal: principal, authorizer: authorizer, kind: kind, claims: claims, listClaims: listClaims,
                upstreamHeaders: upstreamHeaders, consumedHeaders: consumedHeaders)
            c.apiKeyID = apiKeyID
            c.usagePlan = usagePlan
            c.apiKeySlot = apiKeySlot
            c.usageIdentifierKey = usageIdentifierKey
            return c
        }
    }

    /// The storage, copied first if another identity shares it.
    private mutating func unique() -> Storage {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return storage
    }

    public init(
        principal: String, authorizer: String, kind: Kind = .external, claims: [String: String] = [:],
        listClaims: [String: [String]] = [:], upstreamHeaders: [(String, String)] = [], consumedHeaders: [String] = []
    ) {
        storage = Storage(
            principal: principal, authorizer: authorizer, kind: kind, claims: claims, listClaims: listClaims,
            upstreamHeaders: upstreamHeaders, consumedHeaders: consumedHeaders)
    }
}
