import Foundation
import PortcullisCore
import Yams

extension ConfigLoader {
    static let externalKeys = [
        "type", "url", "identity_source", "validation", "timeout", "cache", "stale_if_error", "on_policy_miss",
        "max_concurrent_calls", "max_answer_size", "ca_file", "simple_responses", "payload_format_version",
    ]
    static let externalCacheKeys = ["ttl", "deny_ttl", "max_entries", "max_bytes", "refresh_ahead"]
    /// API Gateway's hard limit on `authorizerResultTtlInSeconds`.
    static let maxAuthorizerTTL: Duration = .seconds(3600)
    static let contextVariables = [
        "sourceIp", "httpMethod", "resourcePath", "path", "stage", "apiId", "accountId", "requestId", "userAgent", "routeKey",
        "identity.sourceIp", "identity.userAgent",
    ]

    static func parseExternalAuthorizer(_ r: YAMLReader, _ name: String, _ kind: ExternalAuthorizerConfig.Kind, _ node: Node, _ path: String)
        -> ExternalAuthorizerConfig
    {
        var c = ExternalAuthorizerConfig(name: name, kind: kind, url: "", identitySources: [])
        var sourcesNode: Node? = nil
        var validationNode: Node? = nil
        var staleNode: Node? = nil
        var answerSizeNode: Node? = nil
        var simpleNode: Node? = nil
        var payloadNode: Node? = nil
        var cacheNodes = AuthorizerCacheNodes()
        var sawURL = false
        for (key, v, p) in r.mapping(node, path, allowed: externalKeys) {
            switch key {
            case "type": break
            case "url":
                sawURL = true
                guard let s = r.string(v, p) else { continue }
                if let problem = authorizerURLProblem(s) { r.fail(v, p, problem) }
                c.url = s
            case "identity_source":
                sourcesNode = v
                let list = r.strings(v, p)
                if list.isEmpty && kind == .token {
                    // An empty list would make every caller's token one empty cache key.
                    r.fail(v, p, "a token authorizer reads its token from one header: name it, like [header.Authorization], or leave identity_source out for that default")
                }
                if kind == .token && list.count > 1 {
                    r.fail(v, p, "a token authorizer reads one identity source (like header.Authorization); use type: request for several")
                }
                for s in list {
                    if let src = parseExternalIdentitySource(s) {
                        if kind == .token, case .header = src {} else if kind == .token {
                            r.fail(v, p, "a token authorizer reads its token from a header (like header.Authorization), not \(s)")
                        }
                        c.identitySources.append(src)
                    } else {
                        r.fail(v, p,
                            "identity source \"\(s)\" is header.NAME, query.NAME, context.VARIABLE or stage_variable.NAME (like header.Authorization)")
                    }
                }
            case "validation":
                validationNode = v
                guard let s = r.string(v, p) else { continue }
                do {
                    _ = try Regex(s)
                    c.validation = s
                } catch {
                    r.fail(v, p, "invalid regular expression: \(error)")
                }
            case "timeout":
                guard let d = r.duration(v, p) else { continue }
                if d <= .zero || d > .seconds(30) {
                    r.fail(v, p, "timeout is between 1ms and 30s (API Gateway waits 10s for an HTTP API's authorizer)")
                } else {
                    c.timeout = d
                }
            case "cache": (c.cache, cacheNodes) = parseAuthorizerCache(r, v, p)
            case "stale_if_error":
                staleNode = v
                guard let d = r.duration(v, p) else { continue }
                if d > .seconds(86_400) { r.fail(v, p, "stale_if_error is at most 24h") } else { c.staleIfError = d }
            case "on_policy_miss":
                let s = r.string(v, p) ?? ""
                if let m = ExternalAuthorizerConfig.PolicyMiss(rawValue: s) { c.onPolicyMiss = m } else {
                    r.fail(v, p, "on_policy_miss is deny (API Gateway's 403) or reauthorize (ask the authorizer again for this method), not \"\(s)\"")
                }
            case "max_concurrent_calls": c.maxConcurrentCalls = r.int(v, p, range: 1...1_000_000) ?? c.maxConcurrentCalls
            case "max_answer_size":
                answerSizeNode = v
                guard let s = r.size(v, p) else { continue }
                if s < 256 || s > 8 << 20 { r.fail(v, p, "max_answer_size is between 256 bytes and 8MiB") } else { c.maxAnswerBytes = Int(s) }
            case "ca_file":
                if let s = r.string(v, p), let pem = readFile(r, v, p, s) {
                    c.caFile = r.resolvePath(s)
                    c.caFileDigest = contentDigest(pem)
                }
            case "simple_responses":
                simpleNode = v
                c.simpleResponses = r.bool(v, p) ?? false
            case "payload_format_version":
                payloadNode = v
                let s = r.string(v, p) ?? ""
                if let f = ExternalAuthorizerConfig.PayloadFormat(rawValue: s), f != .rest {
                    c.payloadFormat = f
                } else {
                    r.fail(v, p, "payload_format_version is \"1.0\" or \"2.0\" (an HTTP API's event shapes; leave it out for the REST event), not \"\(s)\"")
                }
            default: break
            }
        }
        if !sawURL {
            r.fail(node, "\(path).url", "a \(kind.rawValue) authorizer needs the url its events are POSTed to, like http://127.0.0.1:9100/authorize")
        }
        if c.identitySources.isEmpty {
            if kind == .token {
                // API Gateway's default for TOKEN authorizers.
                if sourcesNode == nil { c.identitySources = [.header("authorization")] }
            } else if c.cache.ttl > .zero {
                r.fail(sourcesNode ?? node, "\(path).identity_source",
                    "a cached request authorizer needs at least one identity source (its cache key), like [header.Authorization]; or set cache: {ttl: 0s}")
            }
        }
        if kind == .token && c.simpleResponses {
            r.fail(simpleNode, "\(path).simple_responses",
                "simple_responses applies to request authorizers only (API Gateway's HTTP APIs, which have no token authorizers); remove it or use type: request")
        }
        checkCacheBounds(r, c, path, node: node, maxBytes: cacheNodes.maxBytes, answerSize: answerSizeNode)
        if c.cache.ttl == .zero && c.staleIfError > .zero {
            r.warn(staleNode, "\(path).stale_if_error", "has no effect with cache.ttl 0s (nothing is cached to serve stale); remove it or set a ttl")
        }
        if c.simpleResponses && c.payloadFormat == .v1 {
            r.fail(simpleNode, "\(path).simple_responses",
                "simple_responses needs payload_format_version \"2.0\" (API Gateway has simple answers only with HTTP APIs' 2.0 events); remove one of them")
        }
        if kind == .token && c.payloadFormat != .rest {
            r.fail(payloadNode, "\(path).payload_format_version",
                "payload_format_version applies to request authorizers only (HTTP APIs have no token authorizers); remove it or use type: request")
        }
        if kind == .request && c.validation != nil {
            r.fail(validationNode, "\(path).validation", "validation applies to token authorizers only (API Gateway ignores it for REQUEST)")
        }
        return c
    }

    /// Where the cache settings that later checks point at were written.
    struct AuthorizerCacheNodes {
        var maxBytes: Node? = nil
    }

    static func parseAuthorizerCache(_ r: YAMLReader, _ node: Node, _ path: String) -> (ExternalAuthorizerConfig.Cache, AuthorizerCacheNodes) {
        var cache = ExternalAuthorizerConfig.Cache()
        var nodes = AuthorizerCacheNodes()
        var denyNode: Node? = nil
        var aheadNode: Node? = nil
        func ttl(_ v: Node, _ p: String) -> Duration? {
            guard let d = r.duration(v, p) else { return nil }
            if d > maxAuthorizerTTL {
                r.fail(v, p, "at most 3600s (API Gateway's limit); 0s turns the cache off")
                return nil
            }
            return d
        }
        let shards = ExternalAuthorizerConfig.Cache.shards
        for (key, v, p) in r.mapping(node, path, allowed: externalCacheKeys) {
            switch key {
            case "ttl": cache.ttl = ttl(v, p) ?? cache.ttl
            case "deny_ttl":
                denyNode = v
                cache.denyTTL = ttl(v, p) ?? cache.denyTTL
            case "max_entries":
                guard let n = r.int(v, p, range: 1...100_000_000) else { continue }
                if n < shards {
                    r.fail(v, p, "max_entries is at least \(shards): the cache is split into \(shards) shards, each holding its share, and a shard with none never caches")
                } else {
                    cache.maxEntries = n
                }
            case "max_bytes":
                nodes.maxBytes = v
                guard let s = r.size(v, p) else { continue }
                if s < 64 << 10 { r.fail(v, p, "max_bytes is at least 64KiB") } else { cache.maxBytes = s }
            case "refresh_ahead":
                aheadNode = v
                guard let d = r.duration(v, p) else { continue }
                cache.refreshAhead = d
            default: break
            }
        }
        if cache.ttl == .zero {
            // No cache: these would be silently ignored.
            if cache.denyTTL != nil {
                r.warn(denyNode, "\(path).deny_ttl", "has no effect with ttl 0s (the cache is off); remove it or set a ttl")
            }
            if cache.refreshAhead > .zero {
                r.warn(aheadNode, "\(path).refresh_ahead", "has no effect with ttl 0s (the cache is off); remove it or set a ttl")
            }
        } else if cache.refreshAhead > .zero && cache.refreshAhead >= cache.ttl {
            r.fail(node, "\(path).refresh_ahead", "refresh_ahead must be shorter than ttl (it renews an entry that much before it expires)")
        }
        return (cache, nodes)
    }

    /// Each of the cache's shards holds 1/16 of `max_bytes`: below one answer of
    /// `max_answer_size` (plus an entry's overhead) per shard, large answers would be evicted
    /// the moment they are stored, and the cache would silently never hold them.
    static func checkCacheBounds(_ r: YAMLReader, _ c: ExternalAuthorizerConfig, _ path: String, node: Node, maxBytes: Node?, answerSize: Node?) {
        guard c.cache.ttl > .zero else { return }
        let least = ExternalAuthorizerConfig.Cache.leastBytes(maxAnswerBytes: c.maxAnswerBytes)
        guard c.cache.maxBytes < least else { return }
        let shards = ExternalAuthorizerConfig.Cache.shards
        r.fail(maxBytes ?? answerSize ?? node, maxBytes != nil || answerSize == nil ? "\(path).cache.max_bytes" : "\(path).max_answer_size",
            "cache.max_bytes (\(c.cache.maxBytes) bytes) leaves each of the cache's \(shards) shards less than one answer of max_answer_size "
                + "(\(c.maxAnswerBytes) bytes) plus \(ExternalAuthorizerConfig.Cache.entryOverhead) bytes, so such answers would never stay cached: "
                + "set cache.max_bytes to at least \(least) bytes, or lower max_answer_size")
    }

    /// FNV-1a (64 bits) of a file's contents, in hex: tells a rewritten file from the one loaded
    /// (a reload fingerprint; not a security check).
    static func contentDigest(_ bytes: [UInt8]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return "\(bytes.count)-" + String(h, radix: 16)
    }

    /// `header.Authorization`, `query.q`, `context.sourceIp`, `stage_variable.s`, also in API
    /// Gateway's spellings (`method.request.header.X`, `method.request.querystring.X`,
    /// `stageVariables.X`, `$request.header.X`, `$context.X`, `$stageVariables.X`).
    static func parseExternalIdentitySource(_ s: String) -> ExternalAuthorizerConfig.IdentitySource? {
        guard let (kind, name) = identitySourceParts(s.trimmingCharacters(in: .whitespaces)) else { return nil }
        switch kind {
        case "header": return headerName(name).map { .header($0) }
        case "query", "querystring": return .query(name)
        case "context":
            guard contextVariables.contains(name) else { return nil }
            return .context(name.hasPrefix("identity.") ? String(name.dropFirst(9)) : name)
        case "stage_variable", "stageVariables": return .stageVariable(name)
        default: return nil
        }
    }

    /// The event carries tokens and request data: https, or plain http to this host only.
    static func authorizerURLProblem(_ s: String) -> String? {
        guard s.hasPrefix("https://") || s.hasPrefix("http://") else { return "expected an http(s) URL, like http://127.0.0.1:9100/authorize, got \"\(s)\"" }
        if s.hasPrefix("http://") && !isLoopbackHTTP(s) {
            return "the event carries the caller's credentials: use https, or plain http to 127.0.0.1, ::1 or localhost only"
        }
        return nil
    }

    /// Stage variables named as identity sources must exist in every API whose routes use the authorizer.
    static func checkExternalAuthorizers(_ r: YAMLReader, _ c: PortcullisConfig) {
        for api in c.apis {
            var used = Set<String>()
            for route in api.routes {
                for item in route.auth {
                    switch item {
                    case .none: break
                    case .step(let n): used.insert(n)
                    case .anyOf(let ns): used.formUnion(ns)
                    }
                }
            }
            for name in used.sorted() {
                guard case .external(let e)? = c.authorizers[name]?.kind else { continue }
                for case .stageVariable(let v) in e.identitySources where api.stageVariables[v] == nil {
                    r.fail(nil, "authorizers.\(name).identity_source",
                        "stage variable \(v) is not set on API \(api.name); add it under apis[].stage_variables (otherwise every request gets 401)")
                }
            }
        }
    }
}
