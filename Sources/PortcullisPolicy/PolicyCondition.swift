public import PortcullisCore

/// One condition of a statement: an operator, a key and the values it is compared with. A
/// statement's conditions must all hold; a condition holds when the key matches any of its values.
public struct PolicyCondition: Sendable {
    public enum Operator: String, Sendable, CaseIterable {
        case StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, StringNotLike
        case NumericEquals, NumericNotEquals, NumericLessThan, NumericLessThanEquals, NumericGreaterThan, NumericGreaterThanEquals
        case DateEquals, DateNotEquals, DateLessThan, DateLessThanEquals, DateGreaterThan, DateGreaterThanEquals
        case Bool
        case IpAddress, NotIpAddress
        case ArnEquals, ArnLike, ArnNotEquals, ArnNotLike
        case Null

        /// The operators that hold when the comparison does not (and on a missing key).
        var isNegated: Swift.Bool {
            switch self {
            case .StringNotEquals, .StringNotEqualsIgnoreCase, .StringNotLike, .NumericNotEquals, .DateNotEquals, .NotIpAddress,
                .ArnNotEquals, .ArnNotLike:
                return true
            default: return false
            }
        }
    }

    public enum SetQualifier: Sendable { case single, forAnyValue, forAllValues }

    public var op: Operator
    public var qualifier: SetQualifier
    public var ifExists: Swift.Bool
    public var key: ConditionKey
    let values: [Value]

    /// A policy value compiled for its operator.
    enum Value: Sendable {
        case text(String)
        /// Lower-cased, for the IgnoreCase operators (compared literally, no wildcards).
        case folded(String)
        case pattern(Wildcard)
        case number(Double)
        case cidr(CIDR)
    }

    static func parse(_ json: JSONValue, path: String) throws(PolicyError) -> [PolicyCondition] {
        guard let ops = json.objectValue else { throw PolicyError(path: path, message: "Condition is an object of operators") }
        var out: [PolicyCondition] = []
        for (name, block) in ops.sorted(by: { $0.key < $1.key }) {
            var rest = Substring(name)
            var qualifier = SetQualifier.single
            if rest.hasPrefix("ForAnyValue:") { qualifier = .forAnyValue; rest = rest.dropFirst(12) }
            else if rest.hasPrefix("ForAllValues:") { qualifier = .forAllValues; rest = rest.dropFirst(13) }
            var ifExists = false
            if rest.hasSuffix("IfExists") { ifExists = true; rest = rest.dropLast(8) }
            guard let op = Operator(rawValue: String(rest)) else {
                throw PolicyError(path: "\(path).\(name)", message: "unknown condition operator \"\(name)\"")
            }
            // IAM allows IfExists on every operator but Null, which is itself the existence test.
            if op == .Null && ifExists {
                throw PolicyError(path: "\(path).\(name)", message: "Null takes no IfExists: it already tests whether the key exists")
            }
            guard let keys = block.objectValue else { throw PolicyError(path: "\(path).\(name)", message: "expected {\"key\": value or list}") }
            for (key, v) in keys.sorted(by: { $0.key < $1.key }) {
                let p = "\(path).\(name).\(key)"
                var raw: [String] = []
                for x in v.arrayValue ?? [v] {
                    switch x {
                    case .string(let s): raw.append(s)
                    case .number: raw.append(x.serialized)
                    case .bool(let b): raw.append(b ? "true" : "false")
                    default: throw PolicyError(path: p, message: "condition values are strings, numbers or booleans")
                    }
                }
                out.append(PolicyCondition(op: op, qualifier: qualifier, ifExists: ifExists, key: ConditionKey(key), values: try compile(op, raw, p)))
            }
        }
        return out
    }

    static func compile(_ op: Operator, _ raw: [String], _ path: String) throws(PolicyError) -> [Value] {
        var out: [Value] = []
        for s in raw {
            switch op {
            case .StringLike, .StringNotLike, .ArnLike, .ArnNotLike, .ArnEquals, .ArnNotEquals: out.append(.pattern(Wildcard(s)))
            case .StringEqualsIgnoreCase, .StringNotEqualsIgnoreCase: out.append(.folded(s.lowercased()))
            case .NumericEquals, .NumericNotEquals, .NumericLessThan, .NumericLessThanEquals, .NumericGreaterThan, .NumericGreaterThanEquals:
                guard let d = PolicyNumber.parse(s) else { throw PolicyError(path: path, message: "\"\(s)\" is not a number") }
                out.append(.number(d))
            case .DateEquals, .DateNotEquals, .DateLessThan, .DateLessThanEquals, .DateGreaterThan, .DateGreaterThanEquals:
                guard let t = PolicyTime.parse(s) else { throw PolicyError(path: path, message: "\"\(s)\" is not a date (ISO 8601 or seconds since 1970)") }
                out.append(.number(Double(t)))
            case .IpAddress, .NotIpAddress:
                // A bare address is a /32 or /128 block.
                guard let c = CIDR(s) else {
                    throw PolicyError(path: path, message: "\"\(s)\" is not an IP address or CIDR block")
                }
                out.append(.cidr(c))
            case .Bool, .Null:
                guard s == "true" || s == "false" else { throw PolicyError(path: path, message: "\(op.rawValue) takes \"true\" or \"false\"") }
                out.append(.text(s))
            case .StringEquals, .StringNotEquals:
                out.append(.text(s))
            }
        }
        return out
    }

    /// Whether the condition holds for the request, asking the context for the key's bytes in
    /// place when the operator compares strings one to one (no String of a header is made).
    @usableFromInline
    func holds<C: PolicyContext>(in context: C) -> Swift.Bool {
        if comparesBytes, let held = context.withBytes(of: key, { holds(bytes: $0) }) { return held }
        return holds(context.values(for: key))
    }

    /// StringEquals, StringNotEquals, StringLike and StringNotLike without a set qualifier.
    var comparesBytes: Swift.Bool {
        guard qualifier == .single else { return false }
        switch op {
        case .StringEquals, .StringNotEquals, .StringLike, .StringNotLike: return true
        default: return false
        }
    }

    /// `holds` for one value given as bytes (nil: the key is absent), for `comparesBytes` operators.
    func holds(bytes: UnsafeRawBufferPointer?) -> Swift.Bool {
        guard let bytes else { return ifExists || op.isNegated }
        let text = bytes.assumingMemoryBound(to: UInt8.self)
        let hit: Swift.Bool
        switch op {
        case .StringEquals, .StringNotEquals:
            hit = values.contains {
                guard case .text(var t) = $0 else { return false }
                return t.withUTF8 { Bytes.equal(UnsafeRawBufferPointer($0), bytes) }
            }
        default:
            hit = values.contains { if case .pattern(let w) = $0 { return w.matches(text) } else { return false } }
        }
        return op.isNegated ? !hit : hit
    }

    /// Whether the condition holds for the request's values of its key.
    @usableFromInline
    func holds(_ context: ConditionValues) -> Swift.Bool {
        if op == .Null {
            let wantsAbsent = values.contains { if case .text("true") = $0 { return true } else { return false } }
            return context.isEmpty == wantsAbsent
        }
        if context.isEmpty {
            if ifExists { return true }
            // ForAllValues over nothing holds; a negated operator holds on a missing key.
            return qualifier == .forAllValues || op.isNegated
        }
        if case .address(let ip) = context, op == .IpAddress || op == .NotIpAddress {
            // An address compared as one, without writing it out and reading it back.
            let inside = values.contains { if case .cidr(let c) = $0 { return c.contains(ip.unmapped) } else { return false } }
            return op == .NotIpAddress ? !inside : inside
        }
        switch qualifier {
        case .forAllValues: return context.allSatisfy(matchesOne)
        case .forAnyValue: return context.contains(where: matchesOne)
        case .single:
            if op.isNegated { return !context.contains { positive($0) } }
            return context.contains(where: matchesOne)
        }
    }

    private func matchesOne(_ v: String) -> Swift.Bool { op.isNegated ? !positive(v) : positive(v) }

    /// The comparison without negation: does `v` match any of the policy's values?
    private func positive(_ v: String) -> Swift.Bool {
        switch op {
        case .StringEquals, .StringNotEquals:
            return values.contains { if case .text(let t) = $0 { return t == v } else { return false } }
        case .StringEqualsIgnoreCase, .StringNotEqualsIgnoreCase:
            let lower = v.lowercased()
            return values.contains { if case .folded(let t) = $0 { return t == lower } else { return false } }
        case .StringLike, .StringNotLike, .ArnEquals, .ArnNotEquals, .ArnLike, .ArnNotLike:
            return values.contains { if case .pattern(let w) = $0 { return w.matches(v) } else { return false } }
        case .Bool:
            return values.contains { if case .text(let t) = $0 { return t == v.lowercased() } else { return false } }
        case .IpAddress, .NotIpAddress:
            guard let ip = IPAddress(v)?.unmapped else { return false }
            return values.contains { if case .cidr(let c) = $0 { return c.contains(ip) } else { return false } }
        case .NumericEquals, .NumericNotEquals, .NumericLessThan, .NumericLessThanEquals, .NumericGreaterThan, .NumericGreaterThanEquals:
            guard let x = PolicyNumber.parse(v) else { return false }
            return compare(x)
        case .DateEquals, .DateNotEquals, .DateLessThan, .DateLessThanEquals, .DateGreaterThan, .DateGreaterThanEquals:
            guard let t = PolicyTime.parse(v) else { return false }
            return compare(Double(t))
        case .Null:
            return false
        }
    }

    private func compare(_ x: Double) -> Swift.Bool {
        values.contains { value in
            guard case .number(let y) = value else { return false }
            switch op {
            case .NumericEquals, .NumericNotEquals, .DateEquals, .DateNotEquals: return x == y
            case .NumericLessThan, .DateLessThan: return x < y
            case .NumericLessThanEquals, .DateLessThanEquals: return x <= y
            case .NumericGreaterThan, .DateGreaterThan: return x > y
            case .NumericGreaterThanEquals, .DateGreaterThanEquals: return x >= y
            default: return false
            }
        }
    }
}

/// Numbers as IAM writes them: decimal, optionally signed, with a fraction; not `nan`, `inf` or
/// hex, which Swift's `Double(_:)` would also accept.
enum PolicyNumber {
    static func parse(_ s: String) -> Double? {
        var digits = 0
        for (i, c) in s.utf8.enumerated() {
            switch c {
            case 0x30...0x39: digits += 1
            case 0x2B, 0x2D: if i != 0 { return nil }
            case 0x2E: continue
            default: return nil
            }
        }
        guard digits > 0, s.utf8.filter({ $0 == 0x2E }).count <= 1 else { return nil }
        return Double(s)
    }
}

/// Policy dates: ISO 8601 (`2026-01-01T00:00:00Z`, or a date alone) or seconds since 1970.
enum PolicyTime {
    static func parse(_ s: String) -> Int64? {
        if let n = Int64(s) { return n }
        let digits = s.filter { $0.isASCII && $0.isNumber }
        guard digits.count == 8 || digits.count == 14, s.count <= 25 else { return nil }
        let d = Array(digits.utf8).map { Int64($0 - 48) }
        func num(_ a: Int, _ n: Int) -> Int64 { d[a..<a + n].reduce(0) { $0 * 10 + $1 } }
        if digits.count == 8 { return CivilTime.epoch(year: num(0, 4), month: num(4, 2), day: num(6, 2), hour: 0, minute: 0, second: 0) }
        return CivilTime.epoch(year: num(0, 4), month: num(4, 2), day: num(6, 2), hour: num(8, 2), minute: num(10, 2), second: num(12, 2))
    }
}
