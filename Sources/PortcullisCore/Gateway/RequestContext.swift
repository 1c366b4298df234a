/// Who the caller is, as established by the authorizer chain. Later steps (resource policy,
/// API keys, header mapping, access log) read it; the proxy core never interprets it.
public struct Identity: Sendable {
    /// The principal (`sub`, an IAM user ARN, an API key id, ...).
    public var principal: String
    /// Which authorizer established it.
    public var authorizer: String
    /// Claims or context values (`$context.authorizer.claims.NAME`, `$context.authorizer.KEY`).
    public var claims: [String: String]
    /// Headers the authorizer asks to send upstream (`forward_claims`, mapped identity);
    /// the proxy adds them after removing any client-sent header of the same name.
    public var upstreamHeaders: [(String, String)]
    /// Lower-case names of request headers that carried the credentials the authorizer checked
    /// (a SigV4 Authorization header, its session token): they do not go upstream.
    public var consumedHeaders: [String]

    public init(
        principal: String, authorizer: String, claims: [String: String] = [:], upstreamHeaders: [(String, String)] = [],
        consumedHeaders: [String] = []
    ) {
        self.principal = principal
        self.authorizer = authorizer
        self.claims = claims
        self.upstreamHeaders = upstreamHeaders
        self.consumedHeaders = consumedHeaders
    }
}
