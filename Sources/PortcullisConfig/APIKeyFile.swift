import Foundation
public import PortcullisCore
import Yams

/// The API key store file (`api_keys: {file: ...}`) as `portcullis keys` edits it: read with the
/// gateway's own parser (so a file the gateway refuses is refused here too), written whole to a
/// temporary file and renamed over the old one, values only as SHA-256 hashes. The gateway reads
/// changes on SIGHUP.
public struct APIKeyFile: Sendable {
    public let path: String
    public var keys: [APIKeyConfig]

    /// Reads the file; a file that does not exist yet is an empty store.
    public static func load(_ path: String) throws(ConfigError) -> APIKeyFile {
        guard FileManager.default.fileExists(atPath: path) else { return APIKeyFile(path: path, keys: []) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError([ConfigIssue(file: path, line: 0, column: 0, keyPath: "", message: "cannot read the key file (UTF-8 YAML)")])
        }
        let r = YAMLReader(file: path, environment: [:])
        var keys: [APIKeyConfig] = []
        do {
            if let root = try Yams.compose(yaml: text) {
                for (k, v, p) in r.mapping(root, "", allowed: ["keys"]) where k == "keys" { keys = ConfigLoader.parseKeyList(r, v, p) }
            }
        } catch {
            throw ConfigError([ConfigLoader.yamlIssue(error, file: path)])
        }
        if !r.issues.isEmpty { throw ConfigError(r.issues) }
        return APIKeyFile(path: path, keys: keys)
    }

    /// The key file a config names (`api_keys: {file: X}`, relative to the config), read without
    /// validating the rest of the config (which may not load until the key file exists).
    public static func path(inConfig configPath: String) -> String? {
        guard let text = try? String(contentsOfFile: configPath, encoding: .utf8), let root = try? Yams.compose(yaml: text),
            let keys = root.mapping?["api_keys"], let file = keys.mapping?["file"]?.scalar?.string
        else { return nil }
        let r = YAMLReader(file: configPath, environment: [:])
        return r.resolvePath(file)
    }

    /// The usage plans a config names, read as leniently (for `keys create --plan`).
    public static func planNames(inConfig configPath: String) -> Set<String>? {
        guard let text = try? String(contentsOfFile: configPath, encoding: .utf8), let root = try? Yams.compose(yaml: text) else { return nil }
        guard let plans = root.mapping?["usage_plans"]?.mapping else { return [] }
        return Set(plans.keys.compactMap { $0.scalar?.string })
    }

    /// Writes the store atomically (a temporary file beside it, then rename).
    public func write() throws {
        let tmp = path + ".tmp-\(getpid())"
        try Self.render(keys).write(toFile: tmp, atomically: false, encoding: .utf8)
        if rename(tmp, path) != 0 {
            unlink(tmp)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }

    public static func render(_ keys: [APIKeyConfig]) -> String {
        var out = "# API keys for Portcullis: written by `portcullis keys`; values are stored only as SHA-256.\n"
        out += "# The gateway reads changes on SIGHUP (`portcullis check` first).\n"
        out += keys.isEmpty ? "keys: []\n" : "keys:\n"
        for k in keys {
            out += "  - id: \(quote(k.id))\n"
            out += "    name: \(quote(k.name))\n"
            if !k.description.isEmpty { out += "    description: \(quote(k.description))\n" }
            out += "    enabled: \(k.enabled)\n"
            out += "    usage_plans: [\(k.usagePlans.map(quote).joined(separator: ", "))]\n"
            out += "    value_sha256: \(Hex.lowercase(k.valueHash))\n"
        }
        return out
    }

    /// A YAML double-quoted scalar.
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F { out += String(format: "\\x%02X", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

/// API Gateway's API-key import format (`POST /apikeys?mode=import&format=csv`): a header row
/// (names case-insensitive, any order; unknown columns ignored) with `Key` required and `Name`,
/// `Description`, `Enabled`, `UsagePlanIds` optional; fields may be quoted with double quotes,
/// and a quoted `UsagePlanIds` holds several ids separated by commas.
public enum APIKeyCSV {
    public struct Row: Sendable, Equatable {
        public var name: String
        public var key: String
        public var description: String
        public var enabled: Bool
        public var usagePlans: [String]
        public var line: Int
    }

    public struct Failure: Error, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { line > 0 ? "line \(line): \(message)" : message }
    }

    public static func parse(_ data: [UInt8]) throws(Failure) -> [Row] {
        var bytes = data
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw Failure(line: 0, message: "the file is not UTF-8 text; save it as UTF-8 CSV")
        }
        let records = try records(text)
        guard let header = records.first else { throw Failure(line: 0, message: "the file is empty; it needs a header row like Name,Key,Description,Enabled,UsagePlanIds") }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let keyColumn = names.firstIndex(of: "key") else {
            throw Failure(line: 1, message: "no Key column; the header row names its columns, like Name,Key,Description,Enabled,UsagePlanIds")
        }
        func column(_ n: String) -> Int? { names.firstIndex(of: n) }
        var rows: [Row] = []
        for r in records.dropFirst() where !(r.fields.count == 1 && r.fields[0].isEmpty) {
            func field(_ i: Int?) -> String { i.flatMap { $0 < r.fields.count ? r.fields[$0] : nil } ?? "" }
            let key = field(keyColumn)
            guard (30...128).contains(key.utf8.count) else {
                throw Failure(line: r.line, message: "a key has 30 to 128 characters in an import (API Gateway's rule), this one \(key.utf8.count)")
            }
            var enabled = true
            let e = field(column("enabled")).lowercased()
            if e == "false" { enabled = false } else if !e.isEmpty && e != "true" {
                throw Failure(line: r.line, message: "Enabled is true or false, not \"\(field(column("enabled")))\"")
            }
            let plans = field(column("usageplanids")).split(whereSeparator: { $0 == "," || $0 == "'" || $0 == " " }).map(String.init)
            let name = field(column("name"))
            rows.append(Row(name: name.isEmpty ? key.prefix(8) + "…" : name, key: key, description: field(column("description")),
                            enabled: enabled, usagePlans: plans, line: r.line))
        }
        return rows
    }

    struct Record { var fields: [String]; var line: Int }

    /// RFC 4180 records: commas, double-quoted fields with "" for a quote, CRLF or LF.
    static func records(_ text: String) throws(Failure) -> [Record] {
        var out: [Record] = []
        var fields: [String] = []
        var field = ""
        var quoted = false, wasQuoted = false
        var line = 1, start = 1
        var it = Array(text.unicodeScalars)[...]
        while let c = it.popFirst() {
            if quoted {
                if c == "\"" {
                    if it.first == "\"" { field.unicodeScalars.append("\""); it.removeFirst() } else { quoted = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"":
                if !field.isEmpty { throw Failure(line: line, message: "a quote inside an unquoted field; quote the whole field") }
                quoted = true
                wasQuoted = true
            case ",":
                fields.append(wasQuoted ? field : field.trimmingCharacters(in: .whitespaces))
                field = ""
                wasQuoted = false
            case "\r":
                continue
            case "\n":
                fields.append(wasQuoted ? field : field.trimmingCharacters(in: .whitespaces))
                out.append(Record(fields: fields, line: start))
                fields = []
                field = ""
                wasQuoted = false
                line += 1
                start = line
            default:
                field.unicodeScalars.append(c)
            }
        }
        if quoted { throw Failure(line: start, message: "a quoted field is not closed") }
        if !field.isEmpty || !fields.isEmpty {
            fields.append(wasQuoted ? field : field.trimmingCharacters(in: .whitespaces))
            out.append(Record(fields: fields, line: start))
        }
        return out
    }
}
