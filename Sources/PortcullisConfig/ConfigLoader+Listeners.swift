import PortcullisCore
import Yams

extension ConfigLoader {
    static func parseListeners(_ r: YAMLReader, _ node: Node, _ path: String) -> [ListenerConfig] {
        r.sequence(node, path).compactMap { n, p in parseListener(r, n, p) }
    }

    static func parseListener(_ r: YAMLReader, _ node: Node, _ path: String) -> ListenerConfig? {
        var l = ListenerConfig(name: "", host: "", port: -1, isPrivate: false, vpce: nil, tls: nil)
        for (key, v, p) in r.mapping(node, path, allowed: ["name", "listen", "private", "vpce", "vpc", "tls"]) {
            switch key {
            case "name": l.name = r.string(v, p) ?? ""
            case "listen":
                guard let s = r.string(v, p) else { continue }
                if let (h, port) = splitHostPort(s) {
                    l.host = h
                    l.port = port
                } else {
                    r.fail(v, p, "invalid listen address \"\(s)\"; write it as HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080")
                }
            case "private": l.isPrivate = r.bool(v, p) ?? false
            case "vpce": l.vpce = r.string(v, p)
            case "vpc": l.vpc = r.string(v, p)
            case "tls": l.tls = parseTLS(r, v, p)
            default: break
            }
        }
        if l.name.isEmpty { r.fail(node, "\(path).name", "every listener needs a name") }
        if l.port < 0 { r.fail(node, "\(path).listen", "every listener needs listen: HOST:PORT") }
        if !l.isPrivate && (l.vpce != nil || l.vpc != nil) {
            r.fail(node, "\(path).private", "vpce and vpc describe the VPC endpoint of a private listener; add private: true")
        }
        return l
    }

    static func splitHostPort(_ s: String) -> (String, Int)? {
        var host: Substring
        var portText: Substring
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            host = s[s.index(after: s.startIndex)..<close]
            let rest = s[s.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = s.lastIndex(of: ":") else { return nil }
            host = s[..<colon]
            portText = s[s.index(after: colon)...]
        }
        guard let port = Int(portText), (0...65535).contains(port), !host.isEmpty else { return nil }
        return (String(host), port)
    }

    static let certFix = "run certs/generate.sh for the dev certificates, or fix the path (relative to the config file)"

    static func parseTLS(_ r: YAMLReader, _ node: Node, _ path: String) -> TLSListenerConfig? {
        var t = TLSListenerConfig(
            certificates: [], minVersion: .tls12, ciphers: nil, clientAuth: .none, clientCA: nil, sessionTickets: true,
            forwardClientCert: true)
        let keys = ["certificates", "min_version", "ciphers", "groups", "client_auth", "client_ca", "session_tickets", "forward_client_cert"]
        for (key, v, p) in r.mapping(node, path, allowed: keys) {
            switch key {
            case "certificates":
                for (cn, cp) in r.sequence(v, p) {
                    var cert = "", keyPath = ""
                    for (ck, cv, cpp) in r.mapping(cn, cp, allowed: ["cert", "key"]) {
                        let file = r.readablePath(cv, cpp, fix: Self.certFix) ?? ""
                        if ck == "cert" { cert = file } else { keyPath = file }
                    }
                    if cert.isEmpty || keyPath.isEmpty { r.fail(cn, cp, "a certificate needs both cert: and key:") }
                    t.certificates.append(.init(cert: cert, key: keyPath))
                }
            case "min_version":
                let s = r.string(v, p) ?? TLSMinimumVersion.tls12.rawValue
                if let version = TLSMinimumVersion(rawValue: s) { t.minVersion = version } else {
                    r.fail(v, p, "min_version must be \"1.2\" or \"1.3\"")
                }
            case "ciphers": t.ciphers = r.string(v, p)
            case "groups":
                // A list ([X25519, P-256]) or OpenSSL's colon-separated string.
                let list: [String]
                if case .sequence = v { list = r.sequence(v, p).compactMap { r.string($0.0, $0.1) } } else { list = r.string(v, p).map { [$0] } ?? [] }
                let joined = list.joined(separator: ":")
                if joined.isEmpty { r.fail(v, p, "groups lists key-exchange groups, like [X25519, P-256, P-384]") } else { t.groups = joined }
            case "client_auth":
                let s = r.string(v, p) ?? "none"
                if let a = TLSListenerConfig.ClientAuth(rawValue: s) { t.clientAuth = a } else {
                    r.fail(v, p, "client_auth must be none, optional or require" + Suggest.hint(for: s, in: ["none", "optional", "require"]))
                }
            case "client_ca": t.clientCA = r.readablePath(v, p, fix: Self.certFix)
            case "session_tickets": t.sessionTickets = r.bool(v, p) ?? true
            case "forward_client_cert": t.forwardClientCert = r.bool(v, p) ?? true
            default: break
            }
        }
        if t.certificates.isEmpty { r.fail(node, "\(path).certificates", "tls needs at least one certificate: [{cert: server.crt, key: server.key}]") }
        if t.clientAuth != .none && t.clientCA == nil { r.fail(node, "\(path).client_ca", "client_auth \(t.clientAuth.rawValue) needs client_ca: a PEM bundle of trusted CAs") }
        return t
    }

    /// `admin:` (an empty mapping takes the defaults). A non-loopback address needs a token: the
    /// listener shows configuration and usage.
    static func parseAdmin(_ r: YAMLReader, _ node: Node, _ path: String) -> AdminConfig? {
        var a = AdminConfig()
        for (key, v, p) in r.mapping(node, path, allowed: ["listen", "token"]) {
            switch key {
            case "listen":
                guard let text = r.string(v, p), let (host, port) = splitHostPort(text) else {
                    r.fail(v, p, "listen is HOST:PORT, like \"127.0.0.1:9901\"")
                    continue
                }
                (a.host, a.port) = (host, port)
            case "token":
                a.token = r.string(v, p)
                if let t = a.token, t.utf8.count < 16 {
                    r.fail(v, p, "the token has \(t.utf8.count) characters; use at least 16 random ones (openssl rand -hex 24), or ${ENV_VAR}, or remove it on a loopback listener")
                }
            default: break
            }
        }
        let loopback = a.host == "localhost" || a.host.hasPrefix("127.") || a.host == "::1" || a.host == "[::1]"
        if !loopback && a.token == nil {
            r.fail(node, "\(path).token", "the admin listener on \(a.host) is reachable from other hosts: set token: (requests then need Authorization: Bearer TOKEN), or listen on 127.0.0.1")
        }
        return a
    }
}
