public import PortcullisCore
public import PortcullisPolicy

/// The condition keys of one request, for policies: resolved only when a condition names them,
/// from the request, the listener it came in on and the identity the authorizers established.
/// (docs/ARCHITECTURE.md, "Resource policy", lists the keys.)
///
/// It keeps only the parts of the request the keys read (not the whole `AuthRequest`), so that
/// making one per request copies little.
public struct RequestConditions: PolicyContext {
    let headers: HeaderBlock
    let clientIP: IPAddress?
    let listener: AuthRequest.ListenerFacts
    let secureTransport: Bool
    public let identity: Identity?
    let fixedNow: Int64?
    let clock: JWTClock
    /// Seconds since 1970: aws:CurrentTime and aws:EpochTime. Read from the clock only when a
    /// condition names one of them.
    public var now: Int64 { fixedNow ?? Int64(clock.now()) }

    public init(request: AuthRequest, identity: Identity?, now: Int64) {
        self.init(request: request, identity: identity, fixedNow: now, clock: .system)
    }

    public init(request: AuthRequest, identity: Identity?, clock: JWTClock) {
        self.init(request: request, identity: identity, fixedNow: nil, clock: clock)
    }

    private init(request: AuthRequest, identity: Identity?, fixedNow: Int64?, clock: JWTClock) {
        headers = request.head.headers
        clientIP = request.clientIP
        listener = request.listener
        secureTransport = request.secureTransport
        self.identity = identity
        self.fixedNow = fixedNow
        self.clock = clock
    }

    public func values(for key: ConditionKey) -> ConditionValues {
        switch key {
        case .sourceIP: return clientIP.map(ConditionValues.address) ?? .absent
        case .vpcSourceIP:
            // Behind a VPC endpoint the caller's own address (API Gateway's aws:VpcSourceIp).
            guard listener.isPrivate, let ip = clientIP else { return .absent }
            return .address(ip)
        case .sourceVpc: return listener.vpc.map(ConditionValues.one) ?? .absent
        case .sourceVpce: return listener.vpce.map(ConditionValues.one) ?? .absent
        case .secureTransport: return .one(secureTransport ? "true" : "false")
        case .currentTime: return .one(Self.iso8601(now))
        case .epochTime: return .one(String(now))
        case .userAgent: return headers.first(named: "user-agent").map(ConditionValues.one) ?? .absent
        case .referer: return headers.first(named: "referer").map(ConditionValues.one) ?? .absent
        case .principalArn, .principalAccount, .principalType, .username, .userid:
            guard let identity, identity.kind == .iam else { return .absent }
            return Self.iamValue(key, identity)
        case .claim(let name):
            guard let identity, identity.kind == .jwt else { return .absent }
            if let list = identity.listClaims[name] { return ConditionValues(list) }
            return identity.claims[name].map(ConditionValues.one) ?? .absent
        case .context(let name):
            guard let identity, identity.kind == .external else { return .absent }
            return identity.claims[name].map(ConditionValues.one) ?? .absent
        case .other: return .absent
        }
    }

    /// aws:UserAgent and aws:Referer read in the head, for the string operators.
    public func withBytes(of key: ConditionKey, _ body: (UnsafeRawBufferPointer?) -> Bool) -> Bool? {
        switch key {
        case .userAgent: return headers.withFirstValue(named: "user-agent" as StaticString) { body($0) } ?? body(nil)
        case .referer: return headers.withFirstValue(named: "referer" as StaticString) { body($0) } ?? body(nil)
        default: return nil
        }
    }

    /// The aws:Principal* keys of a SigV4 identity (its claims hold the ARN, account and key).
    static func iamValue(_ key: ConditionKey, _ identity: Identity) -> ConditionValues {
        let arn = identity.principal
        let resource = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false).last ?? ""
        switch key {
        case .principalArn: return .one(arn)
        case .principalAccount: return identity.claims["accountId"].map(ConditionValues.one) ?? .absent
        case .principalType:
            if resource.hasPrefix("user/") { return .one("User") }
            if resource.hasPrefix("assumed-role/") { return .one("AssumedRole") }
            if resource == "root" { return .one("Account") }
            return .absent
        case .username:
            // IAM users only, as in AWS.
            guard resource.hasPrefix("user/") else { return .absent }
            return .one(String(resource.split(separator: "/").last ?? ""))
        case .userid:
            // AWS gives the user's unique id; Portcullis has none, so the access key id stands for it.
            return identity.claims["accessKey"].map(ConditionValues.one) ?? .absent
        default: return .absent
        }
    }

    /// `2026-11-30T12:00:00Z`, as aws:CurrentTime reads.
    static func iso8601(_ t: Int64) -> String {
        let b = Array(SigV4Time.format(t).utf8)  // YYYYMMDDTHHMMSSZ
        var out: [UInt8] = []
        out.reserveCapacity(20)
        out += b[0..<4] + [0x2D] + b[4..<6] + [0x2D] + b[6..<8] + [0x54]
        out += b[9..<11] + [0x3A] + b[11..<13] + [0x3A] + b[13..<15] + [0x5A]
        return String(decoding: out, as: UTF8.self)
    }
}
