import PortcullisAuth
import PortcullisCore

/// The first phase of a private API (`endpoint: private`): it answers only on listeners marked
/// `private: true`, the stand-in for API Gateway's VPC endpoints. Elsewhere the answer is API
/// Gateway's for a private API reached from outside its VPC: 403 `{"message":"Forbidden"}`.
enum PrivateEndpoint {
    static func admit(_ request: AuthRequest) -> PhaseOutcome {
        if request.listener.isPrivate { return .pass }
        return .refuse(Refusal(.FORBIDDEN, reason: "private API reached on listener \(request.listener.name), which is not private"))
    }
}
