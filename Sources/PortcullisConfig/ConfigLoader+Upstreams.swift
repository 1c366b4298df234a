public import PortcullisCore
import Yams

extension ConfigLoader {
    static func parseUpstreams(_ r: YAMLReader, _ node: Node, _ path: String) -> [String: UpstreamConfig] {
        var out: [String: UpstreamConfig] = [:]
        for (name, v, p) in r.mapping(node, path, allowed: []) {
            out[name] = parseUpstream(r, name, v, p)
        }
        return out
    }

    static func parseUpstream(_ r: YAMLReader, _ name: String, _ node: Node, _ path: String) -> UpstreamConfig {
        var u = UpstreamConfig(
            name: name, endpoints: [], balance: .roundRobin, connectTimeout: .seconds(1), timeout: .seconds(29),
            maxConnectionsPerLoop: 1024, tls: nil, ejectBase: .seconds(1))
        let keys = ["endpoints", "balance", "connect_timeout", "timeout", "max_connections_per_loop", "eject_base", "tls"]
        for (key, v, p) in r.mapping(node, path, allowed: keys) {
            switch key {
            case "endpoints":
                for (en, ep) in r.sequence(v, p) {
                    guard let s = r.string(en, ep) else { continue }
                    if let e = parseEndpoint(s) { u.endpoints.append(e) } else {
                        r.fail(en, ep, "invalid endpoint \"\(s)\"; write it as http://HOST:PORT")
                    }
                }
            case "balance":
                let s = r.string(v, p) ?? ""
                if let b = UpstreamConfig.Balance(rawValue: s) { u.balance = b } else {
                    r.fail(v, p, "unknown balance \"\(s)\"" + Suggest.hint(for: s, in: ["round_robin", "least_outstanding"]))
                }
            case "connect_timeout": u.connectTimeout = r.duration(v, p) ?? u.connectTimeout
            case "timeout": u.timeout = r.duration(v, p) ?? u.timeout
            case "max_connections_per_loop": u.maxConnectionsPerLoop = r.int(v, p, range: 1...100_000) ?? u.maxConnectionsPerLoop
            case "eject_base": u.ejectBase = r.duration(v, p) ?? u.ejectBase
            case "tls": u.tls = parseUpstreamTLS(r, v, p)
            default: r.fail(v, p, "\(key) is not supported yet by this version of Portcullis")
            }
        }
        if u.endpoints.isEmpty { r.fail(node, "\(path).endpoints", "an upstream needs at least one endpoint, e.g. endpoints: [\"http://127.0.0.1:9001\"]") }
        if u.tls != nil && !u.endpoints.contains(where: { $0.scheme == "https" }) {
            r.fail(node, "\(path).tls", "tls settings need https:// endpoints")
        }
        return u
    }

    static func parseUpstreamTLS(_ r: YAMLReader, _ node: Node, _ path: String) -> UpstreamTLSConfig {
        var t = UpstreamTLSConfig(ca: nil, verify: true, serverName: nil, cert: nil, key: nil)
        for (key, v, p) in r.mapping(node, path, allowed: ["ca", "verify", "server_name", "cert", "key"]) {
            switch key {
            case "ca": t.ca = r.readablePath(v, p, fix: Self.certFix)
            case "verify": t.verify = r.bool(v, p) ?? true
            case "server_name": t.serverName = r.string(v, p)
            case "cert": t.cert = r.readablePath(v, p, fix: Self.certFix)
            case "key": t.key = r.readablePath(v, p, fix: Self.certFix)
            default: break
            }
        }
        if (t.cert == nil) != (t.key == nil) { r.fail(node, path, "a client certificate needs both cert: and key:") }
        return t
    }

    static func parseEndpoint(_ s: String) -> UpstreamConfig.Endpoint? {
        let scheme: String
        var rest: Substring
        if s.hasPrefix("http://") {
            scheme = "http"
            rest = s.dropFirst(7)
        } else if s.hasPrefix("https://") {
            scheme = "https"
            rest = s.dropFirst(8)
        } else {
            return nil
        }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        if rest.contains("/") { return nil }
        if let (h, p) = splitHostPort(String(rest)) { return .init(scheme: scheme, host: h, port: p) }
        guard !rest.isEmpty, !rest.contains(":") else { return nil }
        return .init(scheme: scheme, host: String(rest), port: scheme == "https" ? 443 : 80)
    }

    static func parseAuthorizers(_ r: YAMLReader, _ node: Node, _ path: String) -> [String: AuthorizerConfig] {
        var out: [String: AuthorizerConfig] = [:]
        for (name, v, p) in r.mapping(node, path, allowed: []) {
            if name == AuthRequirementConfig.noneName { r.fail(v, p, "\"none\" is built in; choose another name") }
            var type = ""
            if case .mapping(let m) = v, let t = m["type"], let s = r.string(t, "\(p).type") { type = s }
            switch type {
            case "ip":
                var allow: [CIDR] = [], deny: [CIDR] = []
                for (key, kv, kp) in r.mapping(v, p, allowed: ["type", "allow", "deny"]) {
                    if key == "allow" { allow = parseCIDRs(r, kv, kp) } else if key == "deny" { deny = parseCIDRs(r, kv, kp) }
                }
                out[name] = AuthorizerConfig(name: name, kind: .ip(allow: allow, deny: deny))
            case "jwt":
                out[name] = AuthorizerConfig(name: name, kind: .jwt(parseJWTAuthorizer(r, name, v, p)))
            case "sigv4":
                out[name] = AuthorizerConfig(name: name, kind: .sigv4(parseSigV4Authorizer(r, v, p)))
            case "token", "request":
                let kind: ExternalAuthorizerConfig.Kind = type == "token" ? .token : .request
                out[name] = AuthorizerConfig(name: name, kind: .external(parseExternalAuthorizer(r, name, kind, v, p)))
            case "":
                r.fail(v, p, "an authorizer needs a type (ip, jwt, sigv4, token, request)")
            default:
                r.fail(v, "\(p).type", "unknown authorizer type \"\(type)\"" + Suggest.hint(for: type, in: ["ip", "jwt", "sigv4", "token", "request"]))
            }
        }
        return out
    }

    static func parseGatewayResponses(
        _ r: YAMLReader, _ node: Node, _ path: String
    ) -> [GatewayResponseType: GatewayResponseOverride] {
        var out: [GatewayResponseType: GatewayResponseOverride] = [:]
        let names = GatewayResponseType.allCases.map(\.rawValue)
        for (name, v, p) in r.mapping(node, path, allowed: names) {
            guard let type = GatewayResponseType(rawValue: name) else { continue }
            var o = GatewayResponseOverride(status: nil, headers: [:], body: nil)
            for (key, kv, kp) in r.mapping(v, p, allowed: ["status", "headers", "body"]) {
                switch key {
                case "status": o.status = r.int(kv, kp, range: 100...599)
                case "headers":
                    for (hk, hv, hp) in r.mapping(kv, kp, allowed: []) { o.headers[hk] = r.string(hv, hp) }
                case "body": o.body = r.string(kv, kp)
                default: break
                }
            }
            out[type] = o
        }
        return out
    }
}
