import Foundation
public import PortcullisCore
public import PortcullisPolicy
import Yams

/// The identity policies of a sigv4 authorizer's `policies_dir`, by the name they attach to:
/// `users/NAME.json`, `roles/NAME.json`, `groups/NAME.json` (or a folder `KIND/NAME/` of such files).
public struct IdentityPolicySet: Sendable {
    public var users: [String: [PolicyDocument]] = [:]
    public var roles: [String: [PolicyDocument]] = [:]
    public var groups: [String: [PolicyDocument]] = [:]
    public init() {}

    /// The policies of one principal: its user or role, and the groups it is listed in.
    /// `arn:aws:iam::A:user/PATH/NAME`, `arn:aws:iam::A:role/NAME`, `arn:aws:sts::A:assumed-role/NAME/SESSION`.
    public func policies(principal: String, groups memberOf: [String]) -> [PolicyDocument] {
        let parts = principal.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        var out: [PolicyDocument] = []
        if parts.count == 6 {
            let resource = parts[5].split(separator: "/")
            if resource.first == "user", let name = resource.last, resource.count > 1 { out += users[String(name)] ?? [] }
            if resource.first == "role", let name = resource.last, resource.count > 1 { out += roles[String(name)] ?? [] }
            if resource.first == "assumed-role", resource.count > 1 { out += roles[String(resource[1])] ?? [] }
        }
        for g in memberOf { out += groups[g] ?? [] }
        return out
    }
}

extension ConfigLoader {
    /// One policy file on its own (`portcullis policy simulate`): the same reader and grammar as
    /// the gateway's. Resources that match nothing come back as warnings, not errors: IAM accepts
    /// them, and the simulator shows what they do.
    public static func loadPolicyFile(_ path: String) throws(ConfigError) -> (PolicyDocument, warnings: [ConfigIssue]) {
        let r = YAMLReader(file: path, environment: [:])
        var doc: PolicyDocument? = nil
        var warnings: [ConfigIssue] = []
        if let (reader, root) = policyFile(r, nil, "", path) {
            var lines: [String: Node] = [:]
            let (compiled, errors) = PolicyDocument.compile(jsonValue(root, "", &lines))
            for e in errors { reader.fail(position(e.path, lines) ?? root, e.path, e.message) }
            doc = compiled
            if let compiled {
                let dead = YAMLReader(file: path, environment: [:])
                for d in compiled.deadResources { dead.fail(position(d.path, lines) ?? root, d.path, d.message) }
                warnings = dead.issues
            }
            r.absorb(reader)
        }
        guard r.issues.isEmpty, let doc else { throw ConfigError(r.issues) }
        return (doc, warnings)
    }

    /// The node of a JSON path, or of the nearest enclosing element that has one.
    /// The grammar names a lone statement or value `[0]`, as if in a list of one: both spellings
    /// are tried, and the deeper match wins.
    static func position(_ path: String, _ lines: [String: Node]) -> Node? {
        var best: String? = nil
        for candidate in [path, path.replacingOccurrences(of: "[0]", with: "")] {
            var key = candidate
            while lines[key] == nil, let cut = key.lastIndex(where: { $0 == "." || $0 == "[" }) { key = String(key[..<cut]) }
            if lines[key] != nil && key.count > (best?.count ?? -1) { best = key }
        }
        return best.flatMap { lines[$0] }
    }

    /// A policy given inline (a YAML or JSON mapping) or as a file name (JSON, or YAML).
    /// Problems name the file and line of the element at fault and its JSON path.
    static func parsePolicy(_ r: YAMLReader, _ node: Node, _ path: String, executeAPI: String?) -> PolicyDocument? {
        if case .mapping = node { return compilePolicy(r, node, path, executeAPI: executeAPI) }
        guard let name = r.string(node, path) else { return nil }
        let file = r.resolvePath(name)
        guard let fileReader = policyFile(r, node, path, file) else { return nil }
        defer { r.absorb(fileReader.reader) }
        return compilePolicy(fileReader.reader, fileReader.root, "", executeAPI: executeAPI)
    }

    static func policyFile(_ r: YAMLReader, _ node: Node?, _ path: String, _ file: String) -> (reader: YAMLReader, root: Node)? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            r.fail(node, path, "cannot read \(file); give an IAM policy as a JSON file, or inline")
            return nil
        }
        let reader = YAMLReader(file: file, environment: [:])
        do {
            guard let root = try Yams.compose(yaml: text) else {
                r.fail(node, path, "\(file) is empty; give an IAM policy document ({\"Version\": \"2012-10-17\", \"Statement\": [...]})")
                return nil
            }
            return (reader, root)
        } catch {
            r.fail(node, path, "\(file) is not valid JSON: \(error)")
            return nil
        }
    }

    /// Compiles one policy node. The JSON tree keeps each element's line, so a grammar error
    /// points at the line of the element it names.
    static func compilePolicy(_ r: YAMLReader, _ node: Node, _ path: String, executeAPI: String?) -> PolicyDocument? {
        var lines: [String: Node] = [:]
        let json = jsonValue(node, "", &lines)
        func report(_ e: PolicyError) {
            let where_ = path.isEmpty ? e.path : (e.path.isEmpty ? path : "\(path).\(e.path)")
            r.fail(position(e.path, lines) ?? node, where_, e.message)
        }
        let (doc, errors) = PolicyDocument.compile(json, executeAPI: executeAPI)
        for e in errors { report(e) }
        guard var doc else { return nil }
        for d in doc.deadResources { report(d) }
        // A lone statement object is statement 0.
        let statementLines = doc.statements.indices.map { i in (lines["Statement[\(i)]"] ?? (i == 0 ? lines["Statement"] : nil))?.mark?.line ?? 0 }
        doc.origin = PolicyOrigin(file: r.file, statementLines: statementLines)
        return doc.deadResources.isEmpty ? doc : nil
    }

    /// YAML node to JSON value. Scalars stay strings (the grammar reads numbers and booleans of
    /// conditions as text anyway); `lines` maps each JSON path to its node.
    static func jsonValue(_ node: Node, _ path: String, _ lines: inout [String: Node]) -> JSONValue {
        lines[path] = node
        switch node {
        case .scalar(let s):
            if s.style == .plain && (s.string == "null" || s.string == "~") { return .null }
            return .string(s.string)
        case .sequence(let seq):
            return .array(seq.enumerated().map { jsonValue($0.element, "\(path)[\($0.offset)]", &lines) })
        case .mapping(let m):
            var o: [String: JSONValue] = [:]
            for (k, v) in m {
                let key = k.scalar?.string ?? ""
                o[key] = jsonValue(v, path.isEmpty ? key : "\(path).\(key)", &lines)
            }
            return .object(o)
        case .alias:
            return .null
        }
    }

    /// `policies_dir`: `users/`, `roles/` and `groups/`, each holding `NAME.json` (or `.yaml`)
    /// files or `NAME/` folders of them.
    static func parsePolicyDir(_ r: YAMLReader, _ node: Node, _ path: String) -> IdentityPolicySet? {
        guard let name = r.string(node, path) else { return nil }
        let dir = r.resolvePath(name)
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            r.fail(node, path, "cannot read the folder \(dir); give a folder with users/, roles/ and groups/ of IAM policy files")
            return nil
        }
        var set = IdentityPolicySet()
        let kinds = ["users", "roles", "groups"]
        for entry in ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted() where !kinds.contains(entry) && !entry.hasPrefix(".") {
            r.fail(node, path, "\(dir)/\(entry): a policies_dir holds only users/, roles/ and groups/" + Suggest.hint(for: entry, in: kinds))
        }
        for kind in kinds {
            let kindDir = dir + "/" + kind
            for entry in ((try? fm.contentsOfDirectory(atPath: kindDir)) ?? []).sorted() where !entry.hasPrefix(".") {
                let full = kindDir + "/" + entry
                var files: [String] = []
                var owner = entry
                if fm.fileExists(atPath: full, isDirectory: &isDir), isDir.boolValue {
                    files = ((try? fm.contentsOfDirectory(atPath: full)) ?? []).sorted().filter(isPolicyFile).map { full + "/" + $0 }
                } else if isPolicyFile(entry) {
                    owner = String(entry[..<entry.lastIndex(of: ".")!])
                    files = [full]
                } else {
                    r.fail(node, path, "\(full): policy files end in .json, .yaml or .yml")
                }
                for f in files {
                    guard let (reader, root) = policyFile(r, node, path, f) else { continue }
                    if let doc = compilePolicy(reader, root, "", executeAPI: nil) {
                        switch kind {
                        case "users": set.users[owner, default: []].append(doc)
                        case "roles": set.roles[owner, default: []].append(doc)
                        default: set.groups[owner, default: []].append(doc)
                        }
                    }
                    r.absorb(reader)
                }
            }
        }
        return set
    }

    static func isPolicyFile(_ name: String) -> Bool {
        name.hasSuffix(".json") || name.hasSuffix(".yaml") || name.hasSuffix(".yml")
    }
}
