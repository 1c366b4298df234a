public import PortcullisConfig
public import PortcullisCore

/// Reads one identity value of an external authorizer from the request. An empty value counts as
/// absent (API Gateway answers 401 without calling the authorizer).
extension ExternalAuthorizerConfig.IdentitySource {
    public func value(in request: AuthRequest, stageVariables: [String: String]) -> String? {
        let v: String?
        switch self {
        case .header(let name): v = request.head.headers.first(named: name)
        case .query(let name): v = AuthorizerEvent.queryValues(request.head.query).last { $0.0 == name }?.1
        case .stageVariable(let name): v = stageVariables[name]
        case .context(let name): v = Self.contextValue(name, request)
        }
        guard let v, !v.isEmpty else { return nil }
        return v
    }

    /// The `$context` variables an identity source may name.
    static func contextValue(_ name: String, _ request: AuthRequest) -> String? {
        switch name {
        case "sourceIp": return request.clientIP?.description
        case "httpMethod": return request.head.method.name
        case "resourcePath": return request.resourcePath
        case "routeKey": return "\(request.head.method.name) \(request.resourcePath)"
        case "path": return request.head.path
        case "stage": return request.api.stage
        case "apiId": return request.api.id
        case "accountId": return request.api.account
        case "requestId": return request.requestID
        case "userAgent": return request.head.headers.first(named: "user-agent")
        default: return nil
        }
    }
}

extension ExternalAuthorizer {
    /// The cache key of a request: the identity values in config order, or nil when one is
    /// absent. One value is its own key (no copy); several are joined by NUL, which no header,
    /// query value or variable carries.
    func identityKey(_ request: AuthRequest, _ route: RouteAuthPolicy) -> String? {
        if sources.count == 1 { return sources[0].value(in: request, stageVariables: route.stageVariables) }
        var key = ""
        for (i, s) in sources.enumerated() {
            guard let v = s.value(in: request, stageVariables: route.stageVariables) else { return nil }
            if i > 0 { key.unicodeScalars.append("\u{0}") }
            key += v
        }
        return key
    }
}
