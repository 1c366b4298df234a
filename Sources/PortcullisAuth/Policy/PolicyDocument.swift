public import PortcullisCore
import PortcullisConfig

/// An IAM policy document compiled for evaluation: statements with their wildcards and
/// conditions ready, built once when the policy loads.
public struct PolicyDocument: Sendable {
    public var statements: [PolicyStatement]

    /// Parses IAM's JSON grammar: Version, Statement (an object or a list), Sid, Effect,
    /// Principal / NotPrincipal, Action / NotAction, Resource / NotResource, Condition.
    public static func parse(_ json: JSONValue) throws(PolicyError) -> PolicyDocument {
        guard let top = json.objectValue else { throw PolicyError(path: "", message: "a policy is a JSON object with a Statement") }
        for key in top.keys where !["Version", "Id", "Statement"].contains(key) {
            throw PolicyError(path: key, message: "unknown policy element \"\(key)\"")
        }
        if let v = top["Version"], v.stringValue != "2012-10-17" && v.stringValue != "2008-10-17" {
            throw PolicyError(path: "Version", message: "Version is \"2012-10-17\"")
        }
        guard let st = top["Statement"] else { throw PolicyError(path: "Statement", message: "a policy needs a Statement") }
        let list = st.arrayValue ?? [st]
        var out: [PolicyStatement] = []
        for (i, s) in list.enumerated() { out.append(try PolicyStatement.parse(s, path: "Statement[\(i)]")) }
        return PolicyDocument(statements: out)
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

    static func parse(_ json: JSONValue, path: String) throws(PolicyError) -> PolicyStatement {
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
        guard let (resources, notResource) = try pair("Resource", "NotResource") else {
            throw PolicyError(path: "\(path).Resource", message: "a statement needs Resource or NotResource")
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
