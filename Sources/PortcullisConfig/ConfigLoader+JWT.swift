import Foundation
import PortcullisCore
import Yams

// MARK: Model

/// A `type: jwt` authorizer as loaded: files already read (the loader runs off the loops), names
/// validated. Keys become OpenSSL objects when PortcullisAuth compiles it.
public struct JWTAuthorizerConfig: Sendable {
    public enum KeySource: Sendable, Equatable {
        /// OIDC discovery from the issuer (`/.well-known/openid-configuration` → `jwks_uri`);
        /// for a Cognito pool, the pool's documented `/.well-known/jwks.json` directly.
        case discovery(issuer: String)
        case jwksURL(String)
        case jwksDocument(path: String, contents: [UInt8])
        case publicKeyPEM(path: String, pem: String)
        case secret([UInt8])
    }

    /// Where the token is read from. Header names are lower-cased at load.
    public enum IdentitySource: Sendable, Equatable, CustomStringConvertible {
        case header(String)
        case query(String)
        case cookie(String)

        public var description: String {
            switch self {
            case .header(let n): return "header.\(n)"
            case .query(let n): return "query.\(n)"
            case .cookie(let n): return "cookie.\(n)"
            }
        }
    }

    /// Background refresh of remote key sets.
    public struct Refresh: Sendable, Equatable {
        /// Bounds on the interval taken from Cache-Control max-age (default when absent: max).
        public var minInterval: Duration = .seconds(300)
        public var maxInterval: Duration = .seconds(3600)
        /// Least time between two fetches caused by tokens naming an unknown kid.
        public var cooldown: Duration = .seconds(30)
        /// Connect + response time allowed for one fetch (API Gateway allows 1500 ms).
        public var timeout: Duration = .milliseconds(1500)
        /// First retry after a failed fetch; doubles per failure up to `minInterval`.
        public var retry: Duration = .seconds(1)
        /// PEM bundle trusted for https key sets instead of the system store.
        public var caFile: String? = nil
        public init() {}
    }

    public var name: String
    public var keySource: KeySource
    /// `iss` must equal this exactly when set.
    public var issuer: String?
    /// `aud` (or `client_id` when there is no `aud`) must be one of these when not empty.
    public var audiences: [String] = []
    /// JOSE names (RS256, ES384, HS256, ...), validated.
    public var algorithms: [String] = []
    /// Allowed `token_use` values (`id`, `access`); empty: not checked.
    public var tokenUse: [String] = []
    /// Cognito semantics: a route without scopes takes ID tokens, one with scopes access tokens.
    public var cognito: Bool = false
    public var identitySource: IdentitySource = .header("authorization")
    public var leeway: Duration = .zero
    public var requireExp: Bool = true
    public var principalClaim: String = "sub"
    /// Upstream header ← claim, in file order.
    public var forwardClaims: [(header: String, claim: String)] = []
    public var claims: [ClaimRuleConfig] = []
    /// Verified-token cache: time to keep an entry (never beyond `exp`) and size per event loop.
    /// A TTL of 0 disables the cache.
    public var cacheTTL: Duration = .seconds(300)
    public var cacheMaxEntries: Int = 10_000
    public var refresh = Refresh()
}

/// One claim condition (`claims:` of an authorizer or a route).
public struct ClaimRuleConfig: Sendable, Equatable, CustomStringConvertible {
    public enum Test: Sendable, Equatable {
        case equals(String)
        case oneOf([String])
        /// Searched in the claim's text; anchor with ^ and $ for a whole match.
        case regex(String)
        /// An array claim has this element (or a space-separated string has this word).
        case contains(String)
    }
    public var claim: String
    public var test: Test

    public init(claim: String, test: Test) {
        self.claim = claim
        self.test = test
    }

    public var description: String {
        switch test {
        case .equals(let v): return "\(claim) equals \(v)"
        case .oneOf(let v): return "\(claim) one of \(v.joined(separator: ", "))"
        case .regex(let v): return "\(claim) matches /\(v)/"
        case .contains(let v): return "\(claim) contains \(v)"
        }
    }
}

// MARK: Loading

extension ConfigLoader {
    static let jwtKeys = [
        "type", "issuer", "jwks_url", "jwks_file", "public_key_file", "secret", "secret_file", "audiences", "algorithms",
        "token_use", "cognito", "identity_source", "leeway", "require_exp", "principal_claim", "forward_claims", "claims",
        "cache", "jwks",
    ]
    /// Headers a claim must never set: they decide framing, routing or hop-by-hop behaviour.
    static let framingHeaders: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive",
        "proxy-connection", "expect",
    ]
    static let jwtAlgorithmNames = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512",
    ]

    static func parseJWTAuthorizer(_ r: YAMLReader, _ name: String, _ node: Node, _ path: String) -> JWTAuthorizerConfig {
        var c = JWTAuthorizerConfig(name: name, keySource: .secret([]))
        var sources: [(String, Node, JWTAuthorizerConfig.KeySource)] = []
        var algorithms: [String]? = nil
        var algorithmsNode: Node? = nil
        var cognito: Bool? = nil
        var issuerNode: Node? = nil
        for (key, v, p) in r.mapping(node, path, allowed: jwtKeys) {
            switch key {
            case "type": break
            case "issuer":
                guard let s = r.string(v, p) else { continue }
                issuerNode = v
                c.issuer = s
            case "jwks_url":
                guard let s = r.string(v, p) else { continue }
                if let problem = remoteURLProblem(s) { r.fail(v, p, problem) }
                sources.append((key, v, .jwksURL(s)))
            case "jwks_file":
                guard let s = r.string(v, p), let bytes = readFile(r, v, p, s) else { continue }
                let doc = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
                if doc?["keys"] as? [Any] == nil {
                    r.fail(v, p, "\(s) is not a JWK Set (a JSON object with a \"keys\" list)")
                }
                sources.append((key, v, .jwksDocument(path: r.resolvePath(s), contents: bytes)))
            case "public_key_file":
                guard let s = r.string(v, p), let bytes = readFile(r, v, p, s) else { continue }
                let pem = String(decoding: bytes, as: UTF8.self)
                if pem.contains("PRIVATE KEY-----") {
                    r.fail(v, p, "\(s) holds a private key; give the public key (openssl pkey -in KEY -pubout)")
                } else if !pem.contains("-----BEGIN PUBLIC KEY-----") {
                    r.fail(v, p, "\(s) is not a PEM public key (-----BEGIN PUBLIC KEY-----)")
                }
                sources.append((key, v, .publicKeyPEM(path: r.resolvePath(s), pem: pem)))
            case "secret":
                guard let s = r.string(v, p) else { continue }
                sources.append((key, v, .secret(Array(s.utf8))))
            case "secret_file":
                guard let s = r.string(v, p), var bytes = readFile(r, v, p, s) else { continue }
                // One trailing newline is what editors and `echo` leave; it is not part of the secret.
                if bytes.last == 10 { bytes.removeLast() }
                if bytes.last == 13 { bytes.removeLast() }
                sources.append((key, v, .secret(bytes)))
            case "audiences": c.audiences = r.strings(v, p)
            case "algorithms":
                algorithmsNode = v
                algorithms = r.strings(v, p)
                for a in algorithms ?? [] where !jwtAlgorithmNames.contains(a) {
                    if a.lowercased() == "none" {
                        r.fail(v, p, "alg none (unsigned tokens) is never accepted")
                    } else {
                        r.fail(v, p, "unknown algorithm \"\(a)\"" + Suggest.hint(for: a, in: jwtAlgorithmNames))
                    }
                }
            case "token_use":
                c.tokenUse = r.strings(v, p)
                for t in c.tokenUse where t != "id" && t != "access" {
                    r.fail(v, p, "token_use values are id and access, got \"\(t)\"")
                }
            case "cognito": cognito = r.bool(v, p)
            case "identity_source":
                guard let s = r.string(v, p) else { continue }
                if let src = parseIdentitySource(s) { c.identitySource = src } else {
                    r.fail(v, p, "identity_source is header.NAME, query.NAME or cookie.NAME (like header.Authorization), got \"\(s)\"")
                }
            case "leeway": c.leeway = r.duration(v, p) ?? c.leeway
            case "require_exp": c.requireExp = r.bool(v, p) ?? true
            case "principal_claim": c.principalClaim = r.string(v, p) ?? c.principalClaim
            case "forward_claims":
                for (hk, hv, hp) in r.mapping(v, p, allowed: []) {
                    if hk.isEmpty || !hk.utf8.allSatisfy(ASCII.isTokenChar) { r.fail(hv, hp, "invalid header name \"\(hk)\"") }
                    if framingHeaders.contains(hk.lowercased()) {
                        r.fail(hv, hp, "\(hk) frames or routes the request; forward claims in headers of their own (like X-User-Id)")
                    }
                    if let claim = r.string(hv, hp) { c.forwardClaims.append((hk, claim)) }
                }
            case "claims": c.claims = parseClaimRules(r, v, p)
            case "cache":
                for (ck, cv, cp) in r.mapping(v, p, allowed: ["ttl", "max_entries"]) {
                    if ck == "ttl" { c.cacheTTL = r.duration(cv, cp) ?? c.cacheTTL }
                    if ck == "max_entries" { c.cacheMaxEntries = r.int(cv, cp, range: 1...10_000_000) ?? c.cacheMaxEntries }
                }
            case "jwks":
                for (jk, jv, jp) in r.mapping(v, p, allowed: ["min_refresh", "max_refresh", "cooldown", "timeout", "retry", "ca_file"]) {
                    switch jk {
                    case "min_refresh": c.refresh.minInterval = r.duration(jv, jp) ?? c.refresh.minInterval
                    case "max_refresh": c.refresh.maxInterval = r.duration(jv, jp) ?? c.refresh.maxInterval
                    case "cooldown": c.refresh.cooldown = r.duration(jv, jp) ?? c.refresh.cooldown
                    case "timeout": c.refresh.timeout = r.duration(jv, jp) ?? c.refresh.timeout
                    case "retry": c.refresh.retry = r.duration(jv, jp) ?? c.refresh.retry
                    default:
                        if let s = r.string(jv, jp) {
                            if readFile(r, jv, jp, s) != nil { c.refresh.caFile = r.resolvePath(s) }
                        }
                    }
                }
            default: break
            }
        }
        if c.refresh.minInterval > c.refresh.maxInterval {
            r.fail(node, "\(path).jwks", "min_refresh must not exceed max_refresh")
        }

        // Exactly one key source; the issuer alone means discovery.
        if sources.count > 1 {
            r.fail(sources[1].1, "\(path).\(sources[1].0)",
                "give one key source, not both \(sources[0].0) and \(sources[1].0)")
        }
        if let (_, _, source) = sources.first {
            c.keySource = source
        } else if let issuer = c.issuer {
            // Discovery fetches from the issuer: it must be https (iss itself may be any string).
            if !(issuer.hasPrefix("https://") || isLoopbackHTTP(issuer)) {
                r.fail(issuerNode, "\(path).issuer",
                    "to discover keys the issuer must be an https URL (like https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123); otherwise give jwks_url, jwks_file, public_key_file or a secret")
            }
            c.keySource = .discovery(issuer: issuer)
        } else {
            r.fail(node, path, "a jwt authorizer needs a key source: issuer (OIDC discovery), jwks_url, jwks_file, public_key_file, secret or secret_file")
        }
        let isCognitoIssuer = c.issuer.map(isCognitoPool) ?? false
        c.cognito = cognito ?? isCognitoIssuer

        // Algorithms: defaults by key source; HMAC only with a secret, and a secret only for HMAC.
        let isSecret: Bool
        if case .secret = c.keySource { isSecret = true } else { isSecret = false }
        let chosen = algorithms ?? (isSecret ? ["HS256"] : (c.cognito ? ["RS256"] : jwtAlgorithmNames.filter { !$0.hasPrefix("HS") }))
        c.algorithms = chosen.filter(jwtAlgorithmNames.contains)
        if algorithms != nil && chosen.isEmpty { r.fail(algorithmsNode, "\(path).algorithms", "list at least one algorithm") }
        for a in c.algorithms {
            if a.hasPrefix("HS") && !isSecret {
                r.fail(algorithmsNode, "\(path).algorithms",
                    "\(a) needs secret or secret_file; HMAC is never checked against a public key")
            } else if !a.hasPrefix("HS") && isSecret {
                r.fail(algorithmsNode, "\(path).algorithms", "\(a) needs a public key; a secret only verifies HS256/HS384/HS512")
            }
        }
        if case .secret(let bytes) = c.keySource, !sources.isEmpty {
            // RFC 7518 §3.2: the key must be at least as long as the hash output.
            let need = c.algorithms.map { $0 == "HS512" ? 64 : $0 == "HS384" ? 48 : 32 }.max() ?? 32
            if bytes.count < need {
                r.fail(sources[0].1, "\(path).\(sources[0].0)",
                    "the secret has \(bytes.count) bytes; \(c.algorithms.joined(separator: "/")) needs at least \(need) (RFC 7518 §3.2), e.g. openssl rand -base64 48")
            }
        }
        return c
    }

    static func parseClaimRules(_ r: YAMLReader, _ node: Node, _ path: String) -> [ClaimRuleConfig] {
        r.sequence(node, path).compactMap { n, p in
            var claim: String? = nil
            var test: ClaimRuleConfig.Test? = nil
            for (k, v, kp) in r.mapping(n, p, allowed: ["claim", "equals", "one_of", "regex", "contains"]) {
                let t: ClaimRuleConfig.Test?
                switch k {
                case "claim": claim = r.string(v, kp); continue
                case "equals": t = r.string(v, kp).map { .equals($0) }
                case "one_of": t = .oneOf(r.strings(v, kp))
                case "contains": t = r.string(v, kp).map { .contains($0) }
                default:
                    guard let s = r.string(v, kp) else { continue }
                    do {
                        _ = try Regex(s)
                        t = .regex(s)
                    } catch {
                        r.fail(v, kp, "invalid regular expression: \(error)")
                        continue
                    }
                }
                if test != nil { r.fail(v, kp, "one test per rule: equals, one_of, regex or contains") }
                test = t
            }
            guard let claim, !claim.isEmpty else {
                r.fail(n, "\(p).claim", "a claim rule names its claim, like {claim: \"cognito:groups\", contains: admin}")
                return nil
            }
            guard let test else {
                r.fail(n, p, "a claim rule needs a test: equals, one_of, regex or contains")
                return nil
            }
            return ClaimRuleConfig(claim: claim, test: test)
        }
    }

    /// `header.Authorization`, `query.token`, `cookie.id_token`, also in API Gateway's spellings
    /// (`$request.header.Authorization`, `method.request.header.Authorization`).
    static func parseIdentitySource(_ s: String) -> JWTAuthorizerConfig.IdentitySource? {
        guard let (kind, name) = identitySourceParts(s) else { return nil }
        switch kind {
        case "header": return headerName(name).map { .header($0) }
        case "query", "querystring": return .query(name)
        case "cookie": return .cookie(name)
        default: return nil
        }
    }

    /// The kind and name of an identity source (`header` and `Authorization` of
    /// `header.Authorization`), API Gateway's prefixes (`$request.`, `method.request.`, `$`) removed.
    static func identitySourceParts(_ s: String) -> (kind: Substring, name: String)? {
        var t = Substring(s)
        for prefix in ["$request.", "method.request.", "$"] where t.hasPrefix(prefix) { t = t.dropFirst(prefix.count) }
        guard let dot = t.firstIndex(of: ".") else { return nil }
        let name = String(t[t.index(after: dot)...])
        return name.isEmpty ? nil : (t[..<dot], name)
    }

    /// A header name as matched at run time (lower case), or nil when it is not an HTTP token.
    static func headerName(_ name: String) -> String? {
        name.utf8.allSatisfy(ASCII.isTokenChar) ? name.lowercased() : nil
    }

    static func readFile(_ r: YAMLReader, _ node: Node, _ path: String, _ file: String) -> [UInt8]? {
        let resolved = r.resolvePath(file)
        guard let data = FileManager.default.contents(atPath: resolved) else {
            r.fail(node, path, "cannot read \(resolved); check the path (relative paths start at the config file's folder)")
            return nil
        }
        return [UInt8](data)
    }

    /// Key sets come over https; plain http only from this host (tests, a local IdP).
    static func remoteURLProblem(_ s: String) -> String? {
        if s.hasPrefix("https://") || isLoopbackHTTP(s) { return nil }
        if s.hasPrefix("http://") { return "a key set over plain http can be forged in transit; use https (http only for 127.0.0.1, ::1 or localhost)" }
        return "expected an https URL, got \"\(s)\""
    }

    static func isLoopbackHTTP(_ s: String) -> Bool {
        ["http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/", "http://[::1]:", "http://[::1]/"]
            .contains { s.hasPrefix($0) }
    }

    /// `https://cognito-idp.REGION.amazonaws.com/POOL_ID`
    static func isCognitoPool(_ issuer: String) -> Bool {
        guard issuer.hasPrefix("https://cognito-idp.") else { return false }
        let rest = issuer.dropFirst("https://".count)
        guard let slash = rest.firstIndex(of: "/") else { return false }
        return rest[..<slash].hasSuffix(".amazonaws.com") && rest[rest.index(after: slash)...].contains("_")
    }
}
