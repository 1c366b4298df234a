public import PortcullisCore
public import PortcullisConfig

/// A compiled `claims:` rule. Regexes are compiled once, at config load.
public struct ClaimRule: Sendable {
    public enum Test: Sendable {
        case equals(String)
        case oneOf([String])
        case regex(CompiledRegex)
        case contains(String)
    }

    public let claim: String
    public let test: Test
    public let text: String

    public init(_ c: ClaimRuleConfig) throws {
        claim = c.claim
        text = c.description
        switch c.test {
        case .equals(let v): test = .equals(v)
        case .oneOf(let v): test = .oneOf(v)
        case .contains(let v): test = .contains(v)
        case .regex(let p): test = .regex(CompiledRegex(try Regex(p)))
        }
    }

    public func matches(_ claims: JSONValue) -> Bool {
        guard let value = claims[claim] else { return false }
        switch test {
        case .equals(let v): return value.scalarText == v
        case .oneOf(let vs): return value.scalarText.map(vs.contains) ?? false
        case .regex(let re):
            guard let s = value.scalarText else { return false }
            return (try? re.regex.firstMatch(in: s)) != nil
        case .contains(let v):
            switch value {
            case .array(let list): return list.contains { $0.scalarText == v }
            case .string(let s): return s.split(separator: " ").contains { $0 == v }
            default: return false
            }
        }
    }
}

/// A regex compiled at config load and only read afterwards.
///
/// `@unchecked Sendable`: `Regex<AnyRegexOutput>` is not Sendable only because its *output* type
/// can carry arbitrary captured values; the compiled program is immutable and each match builds
/// its own state. We keep no outputs (only whether a match exists), so sharing it is safe.
public struct CompiledRegex: @unchecked Sendable {
    let regex: Regex<AnyRegexOutput>
    init(_ regex: Regex<AnyRegexOutput>) { self.regex = regex }
}

extension JSONValue {
    /// Strings, numbers and booleans as text; nil for null, arrays and objects.
    var scalarText: String? {
        switch self {
        case .string, .number, .bool: return claimText
        default: return nil
        }
    }
}

/// The token's scopes: `scope` (space separated, OAuth 2.0 / Cognito) or `scp` (array or string).
enum Scopes {
    static func of(_ claims: JSONValue) -> [Substring] {
        var out: [Substring] = []
        if let s = claims["scope"]?.stringValue { out += s.split(separator: " ") }
        switch claims["scp"] {
        case .array(let list)?: out += list.compactMap { $0.stringValue.map { Substring($0) } }
        case .string(let s)?: out += s.split(separator: " ")
        default: break
        }
        return out
    }

    /// At least one of `required` is in the token (API Gateway: any route scope suffices).
    static func satisfies(_ claims: JSONValue, _ required: [String]) -> Bool {
        let have = of(claims)
        return required.contains { r in have.contains { $0 == r } }
    }
}
