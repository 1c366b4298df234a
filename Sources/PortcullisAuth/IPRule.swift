public import PortcullisCore

/// The `ip` authorizer: allow and deny lists of address blocks, IPv4 and IPv6.
/// Deny wins over allow; with an empty allow list every address not denied passes.
/// A refusal reads like API Gateway's resource-policy denial (ACCESS_DENIED, capital `Message`).
public struct IPRule: Sendable {
    public let name: String
    public let allow: [CIDR]
    public let deny: [CIDR]

    public init(name: String, allow: [CIDR], deny: [CIDR]) {
        self.name = name
        self.allow = allow
        self.deny = deny
    }

    public func decide(_ request: AuthRequest) -> AuthDecision {
        guard let ip = request.clientIP else {
            return .refuse(refusal(request, explicit: false, reason: "client address unknown"))
        }
        if deny.contains(where: { $0.contains(ip) }) {
            return .refuse(refusal(request, explicit: true, reason: "\(ip) is in the deny list of \(name)"))
        }
        if !allow.isEmpty && !allow.contains(where: { $0.contains(ip) }) {
            return .refuse(refusal(request, explicit: false, reason: "\(ip) is not in the allow list of \(name)"))
        }
        return .allow(nil)
    }

    func refusal(_ request: AuthRequest, explicit: Bool, reason: String) -> Refusal {
        let suffix = explicit ? " with an explicit deny" : ""
        return Refusal(
            .ACCESS_DENIED,
            message: "User: anonymous is not authorized to perform: execute-api:Invoke on resource: \(request.methodARN)\(suffix)",
            reason: reason)
    }
}
