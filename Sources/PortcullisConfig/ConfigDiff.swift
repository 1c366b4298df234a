import Foundation
import PortcullisCore
import PortcullisTLS
import Yams

/// What a reload changed, for its one log line: APIs, routes, authorizers, upstreams, listeners,
/// certificates, usage plans, API keys (a key file's too) and the other top-level settings
/// added (+), removed (-) or changed (~). Each part is compared by its YAML
/// as written (serialized again, so spacing and comments do not count) and certificates by
/// the SHA-256 of their files, so a renewed certificate at the same path shows.
public enum ConfigDiff {
    /// Fingerprints of the parts of a config, by `kind/name`.
    static func fingerprints(_ root: Node, _ config: PortcullisConfig) -> [String: String] {
        var out: [String: String] = [:]
        guard case .mapping(let top) = root else { return out }
        for (k, v) in top {
            guard let key = k.string else { continue }
            switch (key, v) {
            case ("apis", .sequence(let list)), ("listeners", .sequence(let list)):
                for item in list {
                    guard case .mapping(let m) = item, let name = m["name"]?.string else { continue }
                    out["\(key)/\(name)"] = (try? Yams.serialize(node: item)) ?? ""
                }
            case ("authorizers", .mapping(let m)), ("upstreams", .mapping(let m)), ("usage_plans", .mapping(let m)):
                for (nk, nv) in m {
                    guard let name = nk.string else { continue }
                    out["\(key)/\(name)"] = (try? Yams.serialize(node: nv)) ?? ""
                }
            case ("api_keys", _): break  // compared by the keys loaded (a key file's too), below
            default:
                // Every other top-level setting (access_log, admin, limits, throttle, ...).
                out["settings/\(key)"] = (try? Yams.serialize(node: v)) ?? ""
            }
        }
        for k in config.apiKeys {
            out["keys/\(k.id)"] = "\(k.enabled)|\(k.usagePlans.joined(separator: ","))|\(Hex.lowercase(k.valueHash))|\(k.name)|\(k.description)"
        }
        for l in config.listeners {
            guard let tls = l.tls else { continue }
            var bytes: [UInt8] = []
            for c in tls.certificates {
                bytes += (FileManager.default.contents(atPath: c.cert).map { Array($0) } ?? [])
                bytes += (FileManager.default.contents(atPath: c.key).map { Array($0) } ?? [])
            }
            out["certificates/\(l.name)"] = Hex.lowercase(Digest.hash(.sha256, bytes))
        }
        return out
    }

    /// `apis +new -old ~changed; routes 4 -> 5; ...`, or `nothing changed`.
    public static func summary(from old: PortcullisConfig, to new: PortcullisConfig) -> String {
        var parts: [String] = []
        for kind in ["apis", "authorizers", "upstreams", "listeners", "certificates", "usage_plans", "keys", "settings"] {
            let a = old.fingerprints.filter { $0.key.hasPrefix(kind + "/") }
            let b = new.fingerprints.filter { $0.key.hasPrefix(kind + "/") }
            func names(_ keys: some Sequence<String>) -> [String] { keys.map { String($0.dropFirst(kind.count + 1)) }.sorted() }
            let added = names(b.keys.filter { a[$0] == nil })
            let removed = names(a.keys.filter { b[$0] == nil })
            let changed = names(b.keys.filter { a[$0] != nil && a[$0] != b[$0] })
            var words = added.map { "+" + $0 } + removed.map { "-" + $0 } + changed.map { "~" + $0 }
            if words.isEmpty { continue }
            if words.count > 12 { words = Array(words.prefix(12)) + ["..."] }
            parts.append(kind + " " + words.joined(separator: " "))
        }
        let routes = (old.apis.reduce(0) { $0 + $1.routes.count }, new.apis.reduce(0) { $0 + $1.routes.count })
        if routes.0 != routes.1 { parts.append("routes \(routes.0) -> \(routes.1)") }
        return parts.isEmpty ? "nothing changed" : parts.joined(separator: "; ")
    }
}
