import Foundation
import PortcullisConfig
import PortcullisCore

/// The admin listener's `GET /config`: what the running config says, for an operator comparing
/// it with the file on disk (`sha256` is `sha256sum` of the file as loaded). Built from the typed
/// config by naming what to show, so a secret (a JWT secret, a SigV4 secret or session token,
/// the admin token, API key hashes) never appears: where one is set, the summary says
/// `"[redacted]"`.
enum ConfigSummary {
    static let redacted = JSONValue.string("[redacted]")

    static func json(_ c: PortcullisConfig, generation: Int) -> String {
        var o: [String: JSONValue] = [
            "file": .string(c.file),
            "sha256": .string(c.sha256),
            "generation": .number(Double(generation)),
            "workers": c.workers.map { .number(Double($0)) } ?? .string("auto"),
            "accessLog": accessLog(c),
            "listeners": .array(c.listeners.map(listener)),
            "apis": .array(c.apis.map(api)),
            "authorizers": .object(c.authorizers.mapValues(authorizer)),
            "upstreams": .object(c.upstreams.mapValues(upstream)),
            "usagePlans": .object(c.usagePlans.mapValues(plan)),
            "apiKeys": .number(Double(c.apiKeys.count)),
            "trustedProxies": .array(c.trustedProxies.map { .string("\($0)") }),
        ]
        if let dir = c.stateDir { o["stateDir"] = .string(dir) }
        if let t = c.throttle { o["throttle"] = throttle(t) }
        if let a = c.admin {
            o["admin"] = .object(["listen": .string("\(a.host):\(a.port)"), "token": a.token == nil ? .null : redacted])
        }
        return JSONValue.object(o).serialized + "\n"
    }

    static func accessLog(_ c: PortcullisConfig) -> JSONValue {
        let path: JSONValue
        switch c.accessLog {
        case .off: path = .string("off")
        case .stdout: path = .string("stdout")
        case .file(let p): path = .string(p)
        }
        return .object(["path": path, "sample": .number(c.accessLogSample)])
    }

    static func listener(_ l: ListenerConfig) -> JSONValue {
        var o: [String: JSONValue] = ["name": .string(l.name), "listen": .string("\(l.host):\(l.port)"), "private": .bool(l.isPrivate)]
        if let v = l.vpce { o["vpce"] = .string(v) }
        if let v = l.vpc { o["vpc"] = .string(v) }
        if let t = l.tls {
            o["tls"] = .object([
                "certificates": .array(t.certificates.map { .object(["cert": .string($0.cert), "key": .string($0.key)]) }),
                "minVersion": .string(t.minVersion.rawValue), "clientAuth": .string(t.clientAuth.rawValue),
            ])
        }
        return .object(o)
    }

    static func api(_ a: APIConfig) -> JSONValue {
        var o: [String: JSONValue] = [
            "name": .string(a.name), "id": .string(a.id), "stage": .string(a.stage), "region": .string(a.region),
            "endpoint": .string(a.endpoint == .private ? "private" : "regional"),
            "hosts": .array(a.hosts.map { .string($0.description) }),
            "resourcePolicy": .bool(a.resourcePolicy != nil),
            "routes": .array(a.routes.map(route)),
        ]
        if !a.listeners.isEmpty { o["listeners"] = .array(a.listeners.map(JSONValue.string)) }
        if let t = a.throttle { o["throttle"] = throttle(t) }
        if !a.stageVariables.isEmpty { o["stageVariables"] = .object(a.stageVariables.mapValues(JSONValue.string)) }
        return .object(o)
    }

    static func route(_ r: RouteConfig) -> JSONValue {
        let methods: [String]
        switch r.methods {
        case .any: methods = ["ANY"]
        case .only(let m): methods = m
        }
        var o: [String: JSONValue] = [
            "path": .string(r.path), "methods": .array(methods.map(JSONValue.string)), "upstream": .string(r.upstream),
            "auth": .array(r.auth.map { .string(authName($0)) }), "apiKeyRequired": .bool(r.apiKeyRequired),
        ]
        if let t = r.throttle { o["throttle"] = throttle(t) }
        if let s = r.accessLogSample { o["accessLogSample"] = .number(s) }
        if !r.scopes.isEmpty { o["scopes"] = .array(r.scopes.map(JSONValue.string)) }
        return .object(o)
    }

    static func authorizer(_ a: AuthorizerConfig) -> JSONValue {
        switch a.kind {
        case .ip(let allow, let deny):
            return .object(["type": .string("ip"), "allow": .array(allow.map { .string("\($0)") }), "deny": .array(deny.map { .string("\($0)") })])
        case .jwt(let j):
            var o: [String: JSONValue] = [
                "type": .string("jwt"), "issuer": j.issuer.map(JSONValue.string) ?? .null,
                "audiences": .array(j.audiences.map(JSONValue.string)), "algorithms": .array(j.algorithms.map(JSONValue.string)),
                "identitySource": .string("\(j.identitySource)"),
            ]
            switch j.keySource {
            case .discovery(let issuer): o["keys"] = .string("discovery from \(issuer)")
            case .jwksURL(let u): o["keys"] = .string(redactedURL(u))
            case .jwksDocument(let path, _): o["keys"] = .string(path)
            case .publicKeyPEM(let path, _): o["keys"] = .string(path)
            case .secret: o["keys"] = .string("secret"); o["secret"] = redacted
            }
            return .object(o)
        case .sigv4(let s):
            return .object([
                "type": .string("sigv4"),
                "accessKeys": .array(s.keys.map { k in
                    .object([
                        "accessKeyId": .string(k.accessKeyID), "principal": .string(k.principal), "active": .bool(k.active),
                        "secret": redacted, "sessionToken": k.sessionToken == nil ? .null : redacted,
                    ])
                }),
                "identityPolicies": .bool(s.policies != nil),
            ])
        case .external(let e):
            return .object([
                "type": .string(e.kind == .token ? "token" : "request"), "url": .string(redactedURL(e.url)),
                "identitySource": .array(e.identitySources.map { .string("\($0)") }),
            ])
        }
    }

    /// An `auth:` entry as written in the file.
    static func authName(_ a: AuthRequirementConfig) -> String {
        switch a {
        case .none: return AuthRequirementConfig.noneName
        case .step(let name): return name
        case .anyOf(let names): return "any_of(" + names.joined(separator: ",") + ")"
        }
    }

    /// A URL without what may be a credential: user info and the query (a function key in
    /// `?code=`, a token in `?token=`) show as `[redacted]`.
    static func redactedURL(_ url: String) -> String {
        var out = url
        if let q = out.firstIndex(of: "?") { out = String(out[..<q]) + "?[redacted]" }
        if let scheme = out.range(of: "://"), let at = out[scheme.upperBound...].firstIndex(of: "@"),
            !out[scheme.upperBound..<at].contains("/")
        {
            out = String(out[..<scheme.upperBound]) + "[redacted]" + String(out[at...])
        }
        return out
    }

    static func upstream(_ u: UpstreamConfig) -> JSONValue {
        .object(["endpoints": .array(u.endpoints.map { .string($0.description) }), "balance": .string(u.balance.rawValue)])
    }

    static func plan(_ p: UsagePlanConfig) -> JSONValue {
        var o: [String: JSONValue] = ["stages": .array(p.stages.map { .string("\($0.api)/\($0.stage)") })]
        if let t = p.throttle { o["throttle"] = throttle(t) }
        if let q = p.quota { o["quota"] = .object(["limit": .number(Double(q.limit)), "period": .string("\(q.period)"), "offset": .number(Double(q.offset))]) }
        return .object(o)
    }

    static func throttle(_ t: ThrottleConfig) -> JSONValue {
        .object(["rate": .number(t.rate), "burst": .number(Double(t.burst)), "per": .string("\(t.per)")])
    }
}
