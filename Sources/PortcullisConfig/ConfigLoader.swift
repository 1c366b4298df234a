import Foundation
public import PortcullisCore
import PortcullisTLS
import Yams

/// Reads a config file into a validated `PortcullisConfig`, or a `ConfigError` listing every problem.
/// Runs off the event loops (startup, `check`, SIGHUP reload); may use Foundation.
public enum ConfigLoader {
    static let topKeys = [
        "workers", "listeners", "limits", "access_log", "trusted_proxies", "shutdown_grace", "apis",
        "authorizers", "upstreams", "gateway_responses", "admin", "state", "state_dir", "throttle", "usage_plans", "api_keys", "rate_limit_headers", "on_store_error",
        "pid_file",
    ]

    public static func load(
        path: String, environment: [String: String]? = nil
    ) throws(ConfigError) -> PortcullisConfig {
        let environment = environment ?? ProcessInfo.processInfo.environment
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError([ConfigIssue(file: path, line: 0, column: 0, keyPath: "", message: "cannot read file: \(error.localizedDescription)")])
        }
        return try parse(text, file: path, environment: environment)
    }

    public static func parse(
        _ text: String, file: String, environment: [String: String] = [:]
    ) throws(ConfigError) -> PortcullisConfig {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigError([ConfigIssue(file: file, line: 0, column: 0, keyPath: "", message: "the file is empty")])
            }
            root = node
        } catch let e as ConfigError {
            throw e
        } catch {
            throw ConfigError([yamlIssue(error, file: file)])
        }
        let r = YAMLReader(file: file, environment: environment)
        var config = PortcullisConfig(
            file: file, workers: nil, listeners: [], limits: LimitsConfig(), accessLog: .stdout,
            trustedProxies: [], shutdownGrace: .seconds(10), apis: [], authorizers: [:], upstreams: [:],
            gatewayResponses: [:])
        var apiNodes: [(Node, String)] = []
        var adminNode: Node? = nil
        for (key, value, path) in r.mapping(root, "", allowed: topKeys) {
            switch key {
            case "workers":
                if r.string(value, path) == "auto" { config.workers = nil } else { config.workers = r.int(value, path, range: 1...1024) }
            case "listeners": config.listeners = parseListeners(r, value, path)
            case "limits": config.limits = parseLimits(r, value, path)
            case "access_log": (config.accessLog, config.accessLogSample) = parseAccessLog(r, value, path)
            case "trusted_proxies": config.trustedProxies = parseCIDRs(r, value, path)
            case "shutdown_grace": config.shutdownGrace = r.duration(value, path) ?? .seconds(10)
            case "apis": apiNodes = r.sequence(value, path)
            case "authorizers": config.authorizers = parseAuthorizers(r, value, path)
            case "upstreams": config.upstreams = parseUpstreams(r, value, path)
            case "gateway_responses": config.gatewayResponses = parseGatewayResponses(r, value, path)
            case "state_dir": config.stateDir = r.string(value, path).map(r.resolvePath)
            case "pid_file": config.pidFile = r.string(value, path).map(r.resolvePath)
            case "throttle": config.throttle = parseThrottle(r, value, path, allowPer: false)
            case "usage_plans": config.usagePlans = parseUsagePlans(r, value, path)
            case "api_keys": config.apiKeys = parseAPIKeys(r, value, path)
            case "rate_limit_headers": config.rateLimitHeaders = r.bool(value, path) ?? false
            case "on_store_error":
                switch r.string(value, path) {
                case "open": config.failClosedOnStoreError = false
                case "closed": config.failClosedOnStoreError = true
                case let s: r.fail(value, path, "on_store_error is open (count in memory, admit) or closed (refuse with 500), not \"\(s ?? "")\"")
                }
            case "admin":
                config.admin = parseAdmin(r, value, path)
                adminNode = value
            default: break  // state: reserved for later issues, accepted as a mapping
            }
        }
        if let a = config.admin, a.port != 0, let l = config.listeners.first(where: { $0.port == a.port && Self.overlap($0.host, a.host) }) {
            r.fail(adminNode, "admin.listen", "the admin listener's \(a.host):\(a.port) is also listener \(l.name)'s (\(l.host):\(l.port)); give admin another port")
        }
        let refs = References(
            upstreams: Set(config.upstreams.keys), authorizers: Set(config.authorizers.keys),
            listeners: config.listeners.map(\.name), privateListeners: Set(config.listeners.filter(\.isPrivate).map(\.name)))
        config.apis = apiNodes.compactMap { parseAPI(r, $0.0, $0.1, refs: refs) }
        checkGlobal(r, config, root)
        checkUsage(r, config, root)
        checkExternalAuthorizers(r, config)
        if !r.issues.isEmpty { throw ConfigError(r.issues) }
        config.warnings = r.warnings
        config.fingerprints = ConfigDiff.fingerprints(root, config)
        config.sha256 = Hex.lowercase(Digest.hash(.sha256, Array(text.utf8)))
        return config
    }

    static func yamlIssue(_ error: any Error, file: String) -> ConfigIssue {
        if let y = error as? YamlError {
            switch y {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
                return ConfigIssue(file: file, line: mark.line, column: mark.column, keyPath: "", message: "YAML syntax: \(problem)")
            case .duplicatedKeysInMapping(let dups, let ctx):
                return ConfigIssue(file: file, line: ctx.mark.line, column: ctx.mark.column, keyPath: "", message: "duplicate keys: \(dups.joined(separator: ", "))")
            default: break
            }
        }
        return ConfigIssue(file: file, line: 0, column: 0, keyPath: "", message: "YAML: \(error)")
    }

    struct References {
        var upstreams: Set<String>
        var authorizers: Set<String>
        var listeners: [String]
        var privateListeners: Set<String>
    }

    static func checkGlobal(_ r: YAMLReader, _ c: PortcullisConfig, _ root: Node) {
        if c.listeners.isEmpty { r.fail(root, "listeners", "at least one listener is required, e.g. listeners: [{name: public, listen: \"127.0.0.1:8080\"}]") }
        var seenListen = Set<String>()
        var seenNames = Set<String>()
        for (i, l) in c.listeners.enumerated() {
            if !seenNames.insert(l.name).inserted { r.fail(nil, "listeners[\(i)].name", "duplicate listener name \"\(l.name)\"") }
            if l.port != 0 && !seenListen.insert("\(l.host):\(l.port)").inserted {
                r.fail(nil, "listeners[\(i)].listen", "\(l.host):\(l.port) is used by two listeners")
            }
        }
        var apiNames = Set<String>()
        for (i, a) in c.apis.enumerated() where !apiNames.insert(a.name).inserted {
            r.fail(nil, "apis[\(i)].name", "duplicate API name \"\(a.name)\"")
        }
    }

    static func parseCIDRs(_ r: YAMLReader, _ node: Node, _ path: String) -> [CIDR] {
        r.sequence(node, path).compactMap { n, p in
            guard let s = r.string(n, p) else { return nil }
            guard let c = CIDR(s) else {
                r.fail(n, p, "invalid address or CIDR \"\(s)\"; write it like 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32")
                return nil
            }
            return c
        }
    }

    static func parseLimits(_ r: YAMLReader, _ node: Node, _ path: String) -> LimitsConfig {
        var l = LimitsConfig()
        let keys = [
            "max_header_size", "max_headers", "max_header_line_bytes", "max_body_size", "header_timeout", "idle_timeout",
            "max_connections",
        ]
        for (key, v, p) in r.mapping(node, path, allowed: keys) {
            switch key {
            case "max_header_size": if let s = r.size(v, p) { l.maxHeadBytes = Int(clamping: s) }
            case "max_headers": if let n = r.int(v, p, range: 1...10_000) { l.maxHeaders = n }
            case "max_header_line_bytes":
                if let s = r.size(v, p) {
                    if s < 256 { r.fail(v, p, "must be at least 256 bytes") } else { l.maxHeaderLineBytes = Int(clamping: s) }
                }
            case "max_body_size": if let s = r.size(v, p) { l.maxBodyBytes = s }
            case "header_timeout": if let d = r.duration(v, p) { l.headerTimeout = d }
            case "idle_timeout": if let d = r.duration(v, p) { l.idleTimeout = d }
            case "max_connections": if let n = r.int(v, p, range: 1...10_000_000) { l.maxConnections = n }
            default: break
            }
        }
        if l.maxHeadBytes < 1024 { r.fail(node, "\(path).max_header_size", "must be at least 1KiB") }
        return l
    }

    /// Two listen hosts that would take the same port (equal, or either is every address).
    static func overlap(_ a: String, _ b: String) -> Bool {
        let any = ["0.0.0.0", "::", "[::]", "*", ""]
        return a == b || any.contains(a) || any.contains(b)
    }

    /// An access-log file must be one the gateway can open for appending: its folder exists and
    /// is writable, and so is the file if it exists (a read-only system under systemd's
    /// ProtectSystem=strict is found here, not by a gateway that exits at start).
    static func checkWritable(_ r: YAMLReader, _ node: Node, _ path: String, _ file: String) {
        let dir = (file as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: dir.isEmpty ? "." : dir, isDirectory: &isDir) || !isDir.boolValue {
            return r.fail(node, path, "the folder \(dir) of the access log does not exist; create it (under systemd: LogsDirectory=portcullis gives /var/log/portcullis)")
        }
        if FileManager.default.fileExists(atPath: file) ? access(file, W_OK) != 0 : access(dir.isEmpty ? "." : dir, W_OK) != 0 {
            r.fail(node, path, "\(file) cannot be written (\(String(cString: strerror(errno)))); under systemd's ProtectSystem=strict use a path in LogsDirectory, StateDirectory or ReadWritePaths")
        }
    }

    /// `access_log: stdout | off | PATH` or `{ path: ..., sample: 0.1 }`.
    static func parseAccessLog(_ r: YAMLReader, _ node: Node, _ path: String) -> (AccessLogConfig, Double) {
        func destination(_ s: String) -> AccessLogConfig {
            switch s {
            case "off", "false": return .off
            case "stdout", "-": return .stdout
            default: return .file(r.resolvePath(s))
            }
        }
        if case .scalar = node {
            guard let s = r.string(node, path) else { return (.off, 1) }
            let d = destination(s)
            if case .file(let f) = d { checkWritable(r, node, path, f) }
            return (d, 1)
        }
        var result = (AccessLogConfig.stdout, 1.0)
        for (key, v, p) in r.mapping(node, path, allowed: ["path", "sample"]) {
            switch key {
            case "path":
                if let s = r.string(v, p) {
                    result.0 = destination(s)
                    if case .file(let f) = result.0 { checkWritable(r, v, p, f) }
                }
            default: if let d = parseSample(r, v, p) { result.1 = d }
            }
        }
        return result
    }

    /// A sample rate: a number from 0 to 1 (`0.01` logs one request in a hundred), or a percentage.
    static func parseSample(_ r: YAMLReader, _ node: Node, _ path: String) -> Double? {
        guard let s = r.string(node, path) else { return nil }
        let value: Double?
        if s.hasSuffix("%") { value = Double(s.dropLast()).map { $0 / 100 } } else { value = Double(s) }
        guard let value, value.isFinite, value >= 0, value <= 1 else {
            r.fail(node, path, "a sample rate is a number from 0 to 1 (0.01 logs one request in a hundred) or a percentage like 1%; got \"\(s)\"")
            return nil
        }
        return value
    }
}
