public import PortcullisCore

/// An IAM policy document compiled for evaluation: statements with their wildcards and
/// conditions ready, built once when the policy loads.
public struct PolicyDocument: Sendable {
    public var statements: [PolicyStatement]
    /// Resources that can match no request (`.../api-id/` for `.../api-id/*`): a policy
    /// attached to an API refuses to load with these; the simulator prints them as warnings.
    public var deadResources: [PolicyError] = []
    /// Where the policy was written: its file and the line of each statement, for explanations
    /// (`portcullis explain`); never read while a request is evaluated.
    public var origin: PolicyOrigin? = nil

    /// Parses IAM's JSON grammar: Version, Statement (an object or a list), Sid, Effect,
    /// Principal / NotPrincipal, Action / NotAction, Resource / NotResource, Condition.
    /// `executeAPI` (`arn:aws:execute-api:REGION:ACCOUNT:API_ID`) expands API Gateway's short
    /// resource form `execute-api:/STAGE/METHOD/PATH` as API Gateway does when a policy is saved.
    public static func parse(_ json: JSONValue, executeAPI: String? = nil) throws(PolicyError) -> PolicyDocument {
        let (doc, errors) = compile(json, executeAPI: executeAPI)
        if let first = errors.first { throw first }
        return doc!
    }

    /// Every problem of a policy, each statement checked on its own (for `check`, which reports
    /// them all), with the document when the grammar holds (dead resources aside).
    public static func compile(_ json: JSONValue, executeAPI: String? = nil) -> (PolicyDocument?, [PolicyError]) {
        guard let top = json.objectValue else { return (nil, [PolicyError(path: "", message: "a policy is a JSON object with a Statement")]) }
        var errors: [PolicyError] = []
        for key in top.keys.sorted() where !["Version", "Id", "Statement"].contains(key) {
            errors.append(PolicyError(path: key, message: "unknown policy element \"\(key)\"" + Suggest.hint(for: key, in: ["Version", "Id", "Statement"])))
        }
        if let v = top["Version"], v.stringValue != "2012-10-17" && v.stringValue != "2008-10-17" {
            errors.append(PolicyError(path: "Version", message: "Version is \"2012-10-17\""))
        }
        guard let st = top["Statement"] else { return (nil, errors + [PolicyError(path: "Statement", message: "a policy needs a Statement")]) }
        let list = st.arrayValue ?? [st]
        var out: [PolicyStatement] = []
        var dead: [PolicyError] = []
        for (i, s) in list.enumerated() {
            do {
                out.append(try PolicyStatement.parse(s, path: "Statement[\(i)]", executeAPI: executeAPI, dead: &dead))
            } catch {
                errors.append(error)
            }
        }
        if !errors.isEmpty { return (nil, errors + dead) }
        return (PolicyDocument(statements: out, deadResources: dead), [])
    }

    /// Why an execute-api resource matches nothing, if it cannot: a method ARN always goes on
    /// after the API id with `/STAGE/METHOD/PATH` (three slashes at least), so a pattern without
    /// wildcards and with fewer slashes there never matches.
    static func deadResource(_ r: String) -> String? {
        let parts = r.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[2] == "execute-api" else { return nil }
        let rest = parts[5]
        guard !rest.contains("*"), !rest.contains("?"), rest.filter({ $0 == "/" }).count < 3 else { return nil }
        let fix = r.hasSuffix("/") ? r + "*" : r + "/*"
        return "\"\(r)\" matches no request: after the API id a method ARN goes on with /STAGE/METHOD/PATH "
            + "(like .../\(rest.split(separator: "/").first ?? "api-id")/prod/GET/pets); for every method of the API write \"\(fix)\""
    }
}

public struct PolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The JSON path of the element at fault, like `Statement[1].Condition.IpAddress`.
    public var path: String
    public var message: String
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Who a resource-policy statement is about.
public enum PrincipalPattern: Sendable, Equatable {
    /// `"*"` or `{"AWS": "*"}`: anyone, signed or not.
    case anyone
    /// An ARN (wildcards allowed), or an account (`123456789012`, `arn:aws:iam::123456789012:root`).
    case arn(Wildcard)
    case account(String)

    @usableFromInline
    func matches(_ principal: String?) -> Bool {
        switch self {
        case .anyone: return true
        case .arn(let w): return principal.map(w.matches) ?? false
        case .account(let a):
            guard let p = principal else { return false }
            let parts = p.split(separator: ":", omittingEmptySubsequences: false)
            return parts.count > 4 && parts[4] == a
        }
    }
}

public struct PolicyStatement: Sendable {
    public enum Effect: String, Sendable { case Allow, Deny }

    public var sid: String?
    public var effect: Effect
    /// Nil: the statement names no principal (identity policies).
    public var principals: [PrincipalPattern]?
    public var notPrincipal: Bool
    public var actions: [Wildcard]
    public var notAction: Bool
    public var resources: [Wildcard]
    public var notResource: Bool
    public var conditions: [PolicyCondition]

    static let elements = ["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"]

    static func parse(
        _ json: JSONValue, path: String, executeAPI: String? = nil, dead: inout [PolicyError]
    ) throws(PolicyError) -> PolicyStatement {
        guard let o = json.objectValue else { throw PolicyError(path: path, message: "a statement is a JSON object") }
        for key in o.keys where !elements.contains(key) {
            throw PolicyError(path: "\(path).\(key)", message: "unknown statement element \"\(key)\"" + Suggest.hint(for: key, in: elements))
        }
        guard let e = o["Effect"]?.stringValue, let effect = Effect(rawValue: e) else {
            throw PolicyError(path: "\(path).Effect", message: "Effect is Allow or Deny")
        }
        func strings(_ key: String) throws(PolicyError) -> [String]? {
            guard let v = o[key] else { return nil }
            if let s = v.stringValue { return [s] }
            guard let a = v.arrayValue, !a.isEmpty else { throw PolicyError(path: "\(path).\(key)", message: "\(key) is a string or a list of strings") }
            var out: [String] = []
            for (i, x) in a.enumerated() {
                guard let s = x.stringValue else { throw PolicyError(path: "\(path).\(key)[\(i)]", message: "expected a string") }
                out.append(s)
            }
            return out
        }
        func pair(_ a: String, _ b: String) throws(PolicyError) -> ([String], Bool)? {
            let x = try strings(a), y = try strings(b)
            if x != nil && y != nil { throw PolicyError(path: path, message: "a statement has \(a) or \(b), not both") }
            if let x { return (x, false) }
            if let y { return (y, true) }
            return nil
        }
        guard let (actions, notAction) = try pair("Action", "NotAction") else {
            throw PolicyError(path: "\(path).Action", message: "a statement needs Action or NotAction")
        }
        guard var (resources, notResource) = try pair("Resource", "NotResource") else {
            throw PolicyError(path: "\(path).Resource", message: "a statement needs Resource or NotResource")
        }
        if let executeAPI {
            resources = resources.map { $0.hasPrefix("execute-api:") ? executeAPI + $0.dropFirst(12) : $0 }
        }
        let resourceKey = notResource ? "NotResource" : "Resource"
        for (i, r) in resources.enumerated() {
            guard let why = PolicyDocument.deadResource(r) else { continue }
            let single = o[resourceKey]?.stringValue != nil
            dead.append(PolicyError(path: single ? "\(path).\(resourceKey)" : "\(path).\(resourceKey)[\(i)]", message: why))
        }
        var principals: [PrincipalPattern]? = nil
        var notPrincipal = false
        if o["Principal"] != nil && o["NotPrincipal"] != nil {
            throw PolicyError(path: path, message: "a statement has Principal or NotPrincipal, not both")
        }
        if let p = o["Principal"] ?? o["NotPrincipal"] {
            notPrincipal = o["NotPrincipal"] != nil
            principals = try parsePrincipal(p, path: "\(path).\(notPrincipal ? "NotPrincipal" : "Principal")")
        }
        var conditions: [PolicyCondition] = []
        if let c = o["Condition"] { conditions = try PolicyCondition.parse(c, path: "\(path).Condition") }
        return PolicyStatement(
            sid: o["Sid"]?.stringValue, effect: effect, principals: principals, notPrincipal: notPrincipal,
            actions: actions.map { Wildcard($0, ignoreCase: true) }, notAction: notAction,
            resources: resources.map { Wildcard($0) }, notResource: notResource, conditions: conditions)
    }

    static func parsePrincipal(_ v: JSONValue, path: String) throws(PolicyError) -> [PrincipalPattern] {
        if v.stringValue == "*" { return [.anyone] }
        guard let o = v.objectValue else {
            let hint = v.stringValue == "" ? " (an empty string matches no one; write \"*\" for anyone)" : ""
            throw PolicyError(path: path, message: "Principal is \"*\" or {\"AWS\": ARN, account or list}" + hint)
        }
        var out: [PrincipalPattern] = []
        for (kind, value) in o {
            let list = value.arrayValue ?? [value]
            for x in list {
                guard let s = x.stringValue else { throw PolicyError(path: "\(path).\(kind)", message: "expected a string") }
                guard kind == "AWS" else { continue }  // Service and Federated principals never call through here
                if s == "*" {
                    out.append(.anyone)
                } else if s.utf8.count == 12 && s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                    out.append(.account(s))
                } else if s.hasPrefix("arn:"), s.hasSuffix(":root") {
                    out.append(.account(String(s.split(separator: ":", omittingEmptySubsequences: false)[4])))
                } else if s.hasPrefix("arn:") {
                    out.append(.arn(Wildcard(s)))
                } else {
                    throw PolicyError(path: "\(path).AWS", message: "\"\(s)\" is not an ARN, an account id or \"*\"")
                }
            }
        }
        return out
    }
}

/// The file of a policy and the line of each statement (1-based; 0 when unknown). A class, so
/// that a policy document grows by one reference, not by a string and an array.
public final class PolicyOrigin: Sendable {
    public let file: String
    public let statementLines: [Int]

    public init(file: String, statementLines: [Int]) {
        self.file = file
        self.statementLines = statementLines
    }

    /// `file:line` of statement `index`, or the file alone.
    public func location(ofStatement index: Int) -> String {
        let line = index < statementLines.count ? statementLines[index] : 0
        return line > 0 ? "\(file):\(line)" : file
    }
}
