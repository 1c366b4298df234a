import PortcullisCore
import Foundation
import Yams

extension ConfigLoader {
    static let sigv4Keys = ["type", "credentials_file", "credentials", "max_skew", "policies_dir"]
    static let credentialKeys = ["access_key_id", "secret", "principal", "status", "session_token", "expires", "groups"]

    /// `type: sigv4`: keys inline (`credentials:`) or in a YAML file of their own
    /// (`credentials_file:`, `{credentials: [...]}`), whose problems are reported with that
    /// file's name, line and key path.
    static func parseSigV4Authorizer(_ r: YAMLReader, _ node: Node, _ path: String) -> SigV4AuthorizerConfig {
        var c = SigV4AuthorizerConfig()
        var sawKeys = false
        for (key, v, p) in r.mapping(node, path, allowed: sigv4Keys) {
            switch key {
            case "credentials":
                sawKeys = true
                c.keys += parseCredentials(r, v, p)
            case "credentials_file":
                sawKeys = true
                guard let name = r.string(v, p) else { continue }
                readListFile(r, v, p, name: name, key: "credentials", fix: "give a YAML file with a credentials: list") { fr, kv, kp in
                    c.keys += parseCredentials(fr, kv, kp)
                }
            case "policies_dir":
                c.policies = parsePolicyDir(r, v, p)
            case "max_skew":
                if let d = r.duration(v, p) {
                    if d < .seconds(1) || d > .seconds(3600) { r.fail(v, p, "max_skew must be between 1s and 1h (API Gateway: 5m)") } else { c.maxSkew = d }
                }
            default: break
            }
        }
        if !sawKeys { r.fail(node, "\(path).credentials_file", "a sigv4 authorizer needs credentials_file (or an inline credentials list)") }
        if let set = c.policies {
            for k in c.keys {
                for g in k.groups where set.groups[g] == nil {
                    r.fail(node, path, "access key \(k.accessKeyID) is in group \(g), which has no policies in policies_dir/groups/"
                        + Suggest.hint(for: g, in: set.groups.keys))
                }
            }
        }
        var seen: Set<String> = []
        for k in c.keys where !seen.insert(k.accessKeyID).inserted {
            r.fail(node, path, "access key \(k.accessKeyID) is listed twice")
        }
        return c
    }

    static func parseCredentials(_ r: YAMLReader, _ node: Node, _ path: String) -> [SigV4KeyConfig] {
        r.sequence(node, path).compactMap { n, p in
            var k = SigV4KeyConfig(accessKeyID: "", secret: "", principal: "", active: true)
            for (key, v, kp) in r.mapping(n, p, allowed: credentialKeys) {
                switch key {
                case "access_key_id": k.accessKeyID = r.string(v, kp) ?? ""
                case "secret": k.secret = r.string(v, kp) ?? ""
                case "principal":
                    k.principal = r.string(v, kp) ?? ""
                    if !k.principal.hasPrefix("arn:") || k.principal.split(separator: ":", omittingEmptySubsequences: false).count < 6 {
                        r.fail(v, kp, "a principal is an IAM ARN like arn:aws:iam::123456789012:user/alice")
                    }
                case "status":
                    switch r.string(v, kp) {
                    case "Active": k.active = true
                    case "Inactive": k.active = false
                    case let s: r.fail(v, kp, "status is Active or Inactive, not \"\(s ?? "")\"")
                    }
                case "session_token": k.sessionToken = r.string(v, kp)
                case "groups": k.groups = r.strings(v, kp)
                case "expires":
                    guard let s = r.string(v, kp) else { continue }
                    if let t = ISO8601DateFormatter().date(from: s) { k.expires = Int64(t.timeIntervalSince1970) } else {
                        r.fail(v, kp, "expires is an ISO 8601 time like 2026-12-01T00:00:00Z")
                    }
                default: break
                }
            }
            if k.accessKeyID.isEmpty { r.fail(n, "\(p).access_key_id", "every credential needs an access_key_id") }
            if k.secret.isEmpty { r.fail(n, "\(p).secret", "every credential needs a secret (use ${ENV_VAR} to keep it out of the file)") }
            if k.principal.isEmpty { r.fail(n, "\(p).principal", "every credential needs a principal ARN") }
            if k.expires != nil && k.sessionToken == nil { r.fail(n, "\(p).expires", "expires applies to temporary credentials: add their session_token") }
            return k.accessKeyID.isEmpty ? nil : k
        }
    }
}

extension ConfigLoader {
    /// A YAML file that a key names (`credentials_file`, `api_keys.file`), read with a reader of
    /// its own so that its problems carry its name and lines; `body` gets its `key:` list.
    static func readListFile(
        _ r: YAMLReader, _ node: Node, _ path: String, name: String, key: String, fix: String,
        _ body: (YAMLReader, Node, String) -> Void
    ) {
        let file = r.resolvePath(name)
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            r.fail(node, path, "cannot read \(file); \(fix)")
            return
        }
        let fileReader = YAMLReader(file: file, environment: r.environment)
        do {
            if let root = try Yams.compose(yaml: text) {
                for (k, kv, kp) in fileReader.mapping(root, "", allowed: [key]) where k == key { body(fileReader, kv, kp) }
            } else {
                fileReader.fail(nil, "", "the file is empty; \(fix)")
            }
        } catch {
            r.fail(node, path, "\(file) is not valid YAML: \(error)")
        }
        r.absorb(fileReader)
    }
}
