import PortcullisCore
import Foundation
import Yams

/// Walks a composed YAML tree, collecting every problem with its position and key path
/// instead of stopping at the first. Scalars get `${ENV}` expansion on the way out.
final class YAMLReader {
    let file: String
    let environment: [String: String]
    private(set) var issues: [ConfigIssue] = []
    /// Problems that do not stop the config from loading (a plain key value): `check` prints
    /// them, `run` logs them.
    private(set) var warnings: [ConfigIssue] = []

    init(file: String, environment: [String: String]) {
        self.file = file
        self.environment = environment
    }

    /// Takes over the problems found by a reader of another file (a credentials file).
    func absorb(_ other: YAMLReader) {
        issues += other.issues
        warnings += other.warnings
    }

    func warn(_ node: Node?, _ path: String, _ message: String) {
        let mark = node?.mark
        warnings.append(ConfigIssue(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0, keyPath: path, message: message))
    }

    func fail(_ node: Node?, _ path: String, _ message: String) {
        let mark = node?.mark
        issues.append(ConfigIssue(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0, keyPath: path, message: message))
    }

    /// The key/value pairs of a mapping; keys not in `allowed` are reported with a suggestion.
    func mapping(_ node: Node, _ path: String, allowed: [String]) -> [(key: String, value: Node, path: String)] {
        guard case .mapping(let m) = node else {
            fail(node, path, "expected a mapping (key: value pairs)")
            return []
        }
        var out: [(String, Node, String)] = []
        for (k, v) in m {
            guard case .scalar(let s) = k else {
                fail(k, path, "keys must be plain strings")
                continue
            }
            let key = s.string
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            if !allowed.isEmpty && !allowed.contains(key) {
                fail(k, childPath, "unknown key \"\(key)\"" + Suggest.hint(for: key, in: allowed))
                continue
            }
            out.append((key, v, childPath))
        }
        return out
    }

    func sequence(_ node: Node, _ path: String) -> [(Node, String)] {
        guard case .sequence(let s) = node else {
            fail(node, path, "expected a list")
            return []
        }
        return s.enumerated().map { ($0.element, "\(path)[\($0.offset)]") }
    }

    func string(_ node: Node, _ path: String) -> String? {
        guard case .scalar(let s) = node else {
            fail(node, path, "expected a string")
            return nil
        }
        return expand(s.string, node, path)
    }

    func strings(_ node: Node, _ path: String) -> [String] {
        if case .scalar = node { return string(node, path).map { [$0] } ?? [] }
        return sequence(node, path).compactMap { string($0.0, $0.1) }
    }

    func int(_ node: Node, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard let s = string(node, path) else { return nil }
        guard let v = Int(s), range.contains(v) else {
            fail(node, path, "expected a whole number in \(range.lowerBound)...\(range.upperBound), got \"\(s)\"")
            return nil
        }
        return v
    }

    func bool(_ node: Node, _ path: String) -> Bool? {
        guard let s = string(node, path) else { return nil }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            fail(node, path, "expected true or false, got \"\(s)\"")
            return nil
        }
    }

    /// `250ms`, `10s`, `2m`, `1h`, or a bare number of seconds.
    func duration(_ node: Node, _ path: String) -> Duration? {
        guard let s = string(node, path) else { return nil }
        if let d = YAMLReader.parseDuration(s) { return d }
        fail(node, path, "invalid duration \"\(s)\"; write it like 500ms, 10s, 2m or 1h")
        return nil
    }

    static func parseDuration(_ s: String) -> Duration? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, ms) in units where s.hasSuffix(suffix) {
            let number = s.dropLast(suffix.count)
            if let v = Double(number), v >= 0, !(suffix == "s" && number.hasSuffix("m")) {
                return .milliseconds(Int64(v * Double(ms)))
            }
        }
        if let v = Double(s), v >= 0 { return .milliseconds(Int64(v * 1000)) }
        return nil
    }

    /// `16KiB`, `10MiB`, `1GiB`, `512k`, or a bare number of bytes.
    func size(_ node: Node, _ path: String) -> Int64? {
        guard let s = string(node, path) else { return nil }
        if let v = YAMLReader.parseSize(s) { return v }
        fail(node, path, "invalid size \"\(s)\"; write it like 16KiB, 10MiB or 1GiB")
        return nil
    }

    static func parseSize(_ s: String) -> Int64? {
        let units: [(String, Int64)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000),
            ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1),
        ]
        for (suffix, mult) in units where s.hasSuffix(suffix) {
            if let v = Int64(s.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), v >= 0 { return v * mult }
        }
        return Int64(s).flatMap { $0 >= 0 ? $0 : nil }
    }

    /// Expands `${NAME}` from the environment; a missing variable is an error, not an empty string.
    func expand(_ s: String, _ node: Node, _ path: String) -> String {
        guard s.contains("${") else { return s }
        var out = ""
        var rest = Substring(s)
        while let start = rest.range(of: "${") {
            out += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                fail(node, path, "unterminated ${ in \"\(s)\"")
                return s
            }
            let name = String(rest[start.upperBound..<end])
            if let v = environment[name] {
                out += v
            } else {
                fail(node, path, "environment variable \(name) is not set; export it or remove ${\(name)}")
            }
            rest = rest[rest.index(after: end)...]
        }
        return out + rest
    }

    /// Resolves a path relative to the config file's folder and reports, at the node, a file that
    /// cannot be read (with `fix` saying how to get one).
    func readablePath(_ node: Node, _ path: String, fix: String) -> String? {
        guard let s = string(node, path) else { return nil }
        let resolved = resolvePath(s)
        if !FileManager.default.isReadableFile(atPath: resolved) {
            fail(node, path, "cannot read \(resolved); \(fix)")
        }
        return resolved
    }

    /// Resolves a path relative to the config file's folder.
    func resolvePath(_ p: String) -> String {
        if p.hasPrefix("/") { return p }
        let dir = (file as NSString).deletingLastPathComponent
        return dir.isEmpty ? p : (dir as NSString).appendingPathComponent(p)
    }
}
