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
    /// Runs `body` with the cache key of a request, or returns nil without running it when an
    /// identity value is absent or there are no identity sources (a request authorizer with
    /// `ttl: 0s` may have none: it has no cache). The key may be a probe: whatever keeps it past
    /// `body` takes `owned`.
    ///
    /// API Gateway keeps one cache per authorizer per stage: the key starts with the API id and
    /// the stage, so one authorizer used by two APIs or stages never answers one from the
    /// other's entry. Then the identity values in config order. Every part is preceded by its
    /// length in bytes and a colon: query values are percent-decoded and may hold any byte
    /// (NUL included), so a separator could make two different lists of values one key; a
    /// length prefix cannot.
    func withIdentityKey<R>(_ request: AuthRequest, _ route: RouteAuthPolicy, _ body: (AuthorizerCache.Key) -> R) -> R? {
        guard !sources.isEmpty else { return nil }
        if sources.count == 1, case .header(let name) = sources[0] {
            // The usual case, a token in a header: the key is written from the head's bytes into
            // a buffer on the stack and looked up as a probe; no String, no allocation.
            // The closures capture the API (one reference), not the request (a copy of it).
            let api = request.api
            let field = headerKind != .other ? request.head.headers.firstField(headerKind) : request.head.headers.firstField(named: name)
            guard let field, field.valueLength > 0 else { return nil }
            return request.head.headers.withValue(field) { v in
                // The API id and stage parts were written once, at load (`APIRef.cacheKeyPrefix`).
                api.cacheKeyPrefix.withUnsafeBytes { prefix in
                    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: prefix.count + KeyWriter.size(v.count)) { out in
                        var w = KeyWriter(out: out)
                        w.put(raw: prefix)
                        w.put(v)
                        return AuthorizerCache.Key.probe(UnsafeRawBufferPointer(UnsafeMutableBufferPointer(rebasing: out[..<w.o])), body)
                    }
                }
            }
        }
        if sources.count == 1 {
            // One identity value of another kind: no list of values.
            guard let v = sources[0].value(in: request, stageVariables: route.stageVariables) else { return nil }
            return body(AuthorizerCache.Key(Self.key(request.api.id, request.api.stage, CollectionOfOne(v))))
        }
        var values: [String] = []
        values.reserveCapacity(sources.count)
        for s in sources {
            guard let v = s.value(in: request, stageVariables: route.stageVariables) else { return nil }
            values.append(v)
        }
        return body(AuthorizerCache.Key(Self.key(request.api.id, request.api.stage, values)))
    }

    /// The cache key of a request, owned (tests, and paths that keep it).
    func identityKey(_ request: AuthRequest, _ route: RouteAuthPolicy) -> AuthorizerCache.Key? {
        withIdentityKey(request, route) { $0.owned }
    }

    /// `len:part` for the API id, the stage and each value, written into one String sized once.
    static func key(_ apiID: String, _ stage: String, _ values: some Collection<String>) -> String {
        var total = KeyWriter.size(apiID.utf8.count) + KeyWriter.size(stage.utf8.count)
        for v in values { total += KeyWriter.size(v.utf8.count) }
        return String(unsafeUninitializedCapacity: total) { out in
            var w = KeyWriter(out: out)
            w.put(apiID)
            w.put(stage)
            for v in values { w.put(v) }
            return w.o
        }
    }

    /// The key of a re-ask after a policy miss (`on_policy_miss: reauthorize`): the method ARN,
    /// then the base key. It has one part more than any base key of this authorizer, so it never
    /// names the base entry.
    static func methodKey(_ base: AuthorizerCache.Key, methodARN: String) -> AuthorizerCache.Key {
        AuthorizerCache.Key("\(methodARN.utf8.count):\(methodARN)" + base.text)
    }

    /// The cache key of identity `values` for an API and stage as `withIdentityKey` makes it, or
    /// of the re-ask for `methodARN` as `methodKey` does (tests and tools that name an entry).
    public static func cacheKey(apiID: String, stage: String, values: [String], methodARN: String? = nil) -> AuthorizerCache.Key {
        let key = AuthorizerCache.Key(key(apiID, stage, values))
        return methodARN.map { methodKey(key, methodARN: $0) } ?? key
    }

    /// The token of a TOKEN authorizer: its one identity value, as sent in the event and matched
    /// against `validation`.
    func token(_ request: AuthRequest, _ route: RouteAuthPolicy) -> String? {
        sources.first?.value(in: request, stageVariables: route.stageVariables)
    }
}

/// Writes a cache key's `len:part` parts into a buffer sized for them (`size`).
private struct KeyWriter {
    let out: UnsafeMutableBufferPointer<UInt8>
    var o = 0

    static func digits(_ n: Int) -> Int {
        var d = 1
        var n = n
        while n >= 10 {
            n /= 10
            d += 1
        }
        return d
    }

    /// The bytes a part of `n` bytes takes, its length and colon included.
    static func size(_ n: Int) -> Int { digits(n) + 1 + n }

    mutating func put(_ part: UnsafeRawBufferPointer) {
        let n = part.count
        let d = Self.digits(n)
        var rest = n
        for k in stride(from: o + d - 1, through: o, by: -1) {
            out[k] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
        o += d
        out[o] = UInt8(ascii: ":")
        o += 1
        // One copy of the bytes: a per-byte loop over a String's `utf8` took about 1 ns a byte,
        // and a token is hundreds.
        UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: out[o..<(o + n)])).copyMemory(from: part)
        o += n
    }

    /// Bytes already in `len:part` form (`APIRef.cacheKeyPrefix`).
    mutating func put(raw bytes: UnsafeRawBufferPointer) {
        UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: out[o..<(o + bytes.count)])).copyMemory(from: bytes)
        o += bytes.count
    }

    mutating func put(_ part: String) {
        var part = part
        part.withUTF8 { put(UnsafeRawBufferPointer($0)) }
    }
}
