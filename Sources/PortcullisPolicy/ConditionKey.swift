public import PortcullisCore

/// A condition key, recognised once when a policy loads so that a request resolves it by a
/// `switch` instead of comparing names. IAM's keys are case-insensitive; the names after the
/// `claims:` and `context:` prefixes are kept as written (JWT claim names are case-sensitive).
public enum ConditionKey: Sendable, Hashable {
    case sourceIP, vpcSourceIP, sourceVpc, sourceVpce, secureTransport, currentTime, epochTime
    case userAgent, referer
    case principalArn, principalAccount, principalType, username, userid
    /// `claims:NAME`: a claim of the verified JWT (beyond API Gateway). Multi-valued when the claim is a list.
    case claim(String)
    /// `context:KEY`: a value of the authorizer's context (beyond API Gateway).
    case context(String)
    /// Any other key, lower-cased: `portcullis policy simulate` takes any key; the gateway has no value for it.
    case other(String)

    static let named: [String: ConditionKey] = [
        "aws:sourceip": .sourceIP, "aws:vpcsourceip": .vpcSourceIP, "aws:sourcevpc": .sourceVpc, "aws:sourcevpce": .sourceVpce,
        "aws:securetransport": .secureTransport, "aws:currenttime": .currentTime, "aws:epochtime": .epochTime,
        "aws:useragent": .userAgent, "aws:referer": .referer, "aws:principalarn": .principalArn,
        "aws:principalaccount": .principalAccount, "aws:principaltype": .principalType, "aws:username": .username,
        "aws:userid": .userid,
    ]

    public init(_ name: String) {
        let lower = name.lowercased()
        if let k = Self.named[lower] {
            self = k
        } else if lower.hasPrefix("claims:"), name.utf8.count > 7 {
            self = .claim(String(name.dropFirst(7)))
        } else if lower.hasPrefix("context:"), name.utf8.count > 8 {
            self = .context(String(name.dropFirst(8)))
        } else {
            self = .other(lower)
        }
    }

    /// The canonical spelling: `aws:` keys lower-cased, prefixed names as written.
    public var name: String {
        switch self {
        case .claim(let n): return "claims:" + n
        case .context(let n): return "context:" + n
        case .other(let n): return n
        default: return Self.named.first { $0.value == self }!.key
        }
    }
}

/// The values a request has for one condition key: none, one (most keys), or several (a JWT
/// claim that is a list, like `cognito:groups`).
public enum ConditionValues: Sendable {
    case absent
    case one(String)
    case many([String])
    /// An address (aws:SourceIp): compared as one by IpAddress conditions, as text by the others.
    case address(IPAddress)

    public init(_ list: [String]?) {
        guard let list, !list.isEmpty else {
            self = .absent
            return
        }
        self = list.count == 1 ? .one(list[0]) : .many(list)
    }

    var isEmpty: Bool {
        switch self {
        case .absent: return true
        case .one, .address: return false
        case .many(let l): return l.isEmpty
        }
    }

    func contains(where test: (String) -> Bool) -> Bool {
        switch self {
        case .absent: return false
        case .one(let v): return test(v)
        case .many(let l): return l.contains(where: test)
        case .address(let ip): return test(ip.description)
        }
    }

    func allSatisfy(_ test: (String) -> Bool) -> Bool {
        switch self {
        case .absent: return true
        case .one(let v): return test(v)
        case .many(let l): return l.allSatisfy(test)
        case .address(let ip): return test(ip.description)
        }
    }
}

/// Where the evaluator finds a request's condition values. The gateway resolves keys lazily from
/// the request it is admitting (only the keys a policy names are ever computed); the simulator
/// and the tests use a dictionary (`PolicyKeys`).
public protocol PolicyContext {
    func values(for key: ConditionKey) -> ConditionValues
    /// The key's one value as bytes read where they lie (a request header), for the string
    /// operators: `body` gets nil when the key is absent. Nil when the context cannot give this
    /// key so; the evaluator then asks `values(for:)`.
    /// Not generic: the evaluator calls it from code generic over the context, where a generic
    /// result type was instantiated at run time on every call.
    func withBytes(of key: ConditionKey, _ body: (UnsafeRawBufferPointer?) -> Bool) -> Bool?
}

extension PolicyContext {
    public func withBytes(of key: ConditionKey, _ body: (UnsafeRawBufferPointer?) -> Bool) -> Bool? { nil }
}

/// The context of a policy with no conditions (`AnonymousInvoke.hasConditions` false): every
/// key is absent, and nothing is built per request.
public struct NoConditions: PolicyContext, Sendable {
    @inlinable public init() {}
    @inlinable public func values(for key: ConditionKey) -> ConditionValues { .absent }
}

/// Condition values given by name: `--context KEY=VALUE` and tests.
public struct PolicyKeys: PolicyContext, Sendable {
    var byName: [String: [String]] = [:]

    public init(_ keys: [String: [String]] = [:]) {
        for (k, v) in keys { byName[ConditionKey(k).name, default: []] += v }
    }

    public func values(for key: ConditionKey) -> ConditionValues { ConditionValues(byName[key.name]) }
}
