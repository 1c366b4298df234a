/// A JSON value as JOSE headers, claim sets and key sets need it.
///
/// Parsed by our own strict reader (`JSONValue+Parse.swift`) rather than Foundation: token
/// verification runs on the event loops, and JOSE wants duplicate member names refused
/// (RFC 7515 §5.2 step 4) which Foundation's parser silently resolves.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var numberValue: Double? {
        if case .number(let d) = self { return d }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// A claim as the gateway hands it on (`$context.authorizer.claims.NAME`, `forward_claims`):
    /// strings as they are, whole numbers without a fraction, booleans as true/false, arrays of
    /// scalars comma-joined (as API Gateway's REST Cognito authorizer renders `cognito:groups`),
    /// anything else as compact JSON. Null renders as nil (the claim is left out).
    public var claimText: String? {
        switch self {
        case .null: return nil
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .number: return serialized
        case .array(let a):
            if a.allSatisfy({ if case .array = $0 { return false }; if case .object = $0 { return false }; return true }) {
                return a.compactMap(\.claimText).joined(separator: ",")
            }
            return serialized
        case .object: return serialized
        }
    }

    /// Compact JSON with object members sorted by name (deterministic output for minted tokens).
    public var serialized: String {
        var out = ""
        write(into: &out)
        return out
    }

    private func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d):
            if d == d.rounded(), abs(d) < 9.007_199_254_740_992e15 { out += String(Int64(d)) } else { out += "\(d)" }
        case .string(let s): JSONValue.writeString(s, into: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                v.write(into: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, k) in o.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(k, into: &out)
                out += ":"
                o[k]!.write(into: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ s: String, into out: inout String) {
        out += "\""
        JSONString.escape(s, into: &out)
        out += "\""
    }
}
