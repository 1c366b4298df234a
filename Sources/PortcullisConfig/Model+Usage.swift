public import PortcullisThrottle

/// A token bucket's limits (`throttle:`): `burst` tokens refilled at `rate` per second.
public struct ThrottleConfig: Sendable, Equatable {
    /// Whose bucket: one for everyone, one per client address, or one per principal.
    public enum Scope: String, Sendable, Equatable, CaseIterable {
        case shared
        case clientIP = "client_ip"
        case principal
    }
    public var rate: Double
    public var burst: Int
    public var per: Scope = .shared

    public init(rate: Double, burst: Int, per: Scope = .shared) {
        self.rate = rate
        self.burst = burst
        self.per = per
    }
}

/// A usage plan's quota: `limit` requests per calendar `period` (UTC), the first period less `offset`.
public struct QuotaConfig: Sendable, Equatable {
    public var limit: Int64
    public var period: QuotaPeriod
    public var offset: Int64
}

/// An API stage a usage plan covers, with per-method throttles keyed by route path and method
/// (API Gateway's `"/items/{id}/GET"`, here `methods: {"/items/{id}": {GET: {...}}}`).
public struct UsagePlanStage: Sendable {
    public var api: String
    public var stage: String
    public var methods: [String: [String: ThrottleConfig]]
}

public struct UsagePlanConfig: Sendable {
    public var name: String
    public var stages: [UsagePlanStage]
    public var throttle: ThrottleConfig?
    public var quota: QuotaConfig?
}

/// One API key as the key store holds it: never the value, only its SHA-256.
public struct APIKeyConfig: Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String
    public var enabled: Bool
    public var usagePlans: [String]
    /// SHA-256 of the key value, 32 bytes.
    public var valueHash: [UInt8]
    /// Where the key was written, for messages.
    public var line: Int

    public init(id: String, name: String, description: String = "", enabled: Bool = true, usagePlans: [String], valueHash: [UInt8], line: Int = 0) {
        self.id = id
        self.name = name
        self.description = description
        self.enabled = enabled
        self.usagePlans = usagePlans
        self.valueHash = valueHash
        self.line = line
    }
}

/// Where a route's API key comes from (API Gateway's `apiKeySource`).
public enum APIKeySource: Sendable, Equatable {
    /// The `x-api-key` header.
    case header
    /// A claim of the identity an authorizer established (a JWT claim; an external
    /// authorizer's `usageIdentifierKey` later).
    case authorizer(claim: String)

    /// The claim `AUTHORIZER` alone names: an external authorizer's `usageIdentifierKey`.
    public static let usageIdentifierKey = "usageIdentifierKey"
}
