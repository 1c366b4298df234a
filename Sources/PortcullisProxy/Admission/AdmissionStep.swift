import NIOCore
import PortcullisAuth
import PortcullisCore
import PortcullisPolicy

/// The admission phases a route runs after it matched, compiled once per snapshot and run in
/// this order (docs/ARCHITECTURE.md, "Admission"): private-listener check, ip rules and
/// authorizers (identity), resource policy, API key, throttles, quota. Each case wraps the
/// compiled state of one phase; the `switch` below is the only dispatch, so a request makes no
/// existential calls. Phases not yet built have no case: a route runs only what it configured.
enum AdmissionStep: AdmissionPhase, Sendable {
    /// A private API answers only on private listeners (`PrivateEndpoint.swift`).
    case privateEndpoint
    /// One entry of the route's `auth:` list (`PortcullisAuth/AuthRequirement.swift`).
    case authorize(AuthRequirement)
    /// The API's resource policy and the identity policies of SigV4 principals
    /// (`PortcullisAuth/Access/ResourcePolicyPhase.swift`).
    case resourcePolicy(ResourcePolicyPhase)
    /// `api_key_required`: a known, enabled key of a usage plan of this stage (`APIKeyPhase.swift`).
    case apiKey(APIKeyPhase)
    /// Token buckets: plan-method, plan, route, stage, default (`ThrottlePhase.swift`).
    case throttle(ThrottlePhase)
    /// The usage plan's quota (`ThrottlePhase.swift`).
    case quota(QuotaPhase)

    func admit(_ request: AuthRequest, identity: Identity?, on loop: any EventLoop) -> Eventually<PhaseOutcome> {
        switch self {
        case .privateEndpoint: return .now(PrivateEndpoint.admit(request))
        case .authorize(let requirement): return requirement.admit(request, identity: identity, on: loop)
        case .resourcePolicy(let phase): return .now(phase.admit(request, identity: identity))
        case .apiKey(let phase): return .now(phase.admit(request, identity: identity))
        case .throttle(let phase): return .now(phase.admit(request, identity: identity))
        case .quota(let phase): return .now(phase.admit(request, identity: identity))
        }
    }

    var needsBody: Bool {
        switch self {
        case .privateEndpoint, .resourcePolicy, .apiKey, .throttle, .quota: return false
        case .authorize(let requirement): return requirement.needsBody
        }
    }

    /// A route's phases, in admission order: the private-listener check of a private API, address
    /// rules, then the authorizers that establish an identity, each group in `auth:` list order,
    /// then the resource policy (with identity policies) when the API or an authorizer has one.
    /// `usage` (API key, throttles, quota, from `UsageCompiler`) come last.
    static func compile(
        auth: [AuthRequirement], privateAPI: Bool = false, resourcePolicy: PolicyDocument? = nil, api: AuthRequest.APIRef? = nil,
        usage: [AdmissionStep] = []
    ) -> [AdmissionStep] {
        let rules = auth.filter(\.isAddressRule)
        let identity = auth.filter { !$0.isAddressRule }
        let policy = ResourcePolicyPhase.forRoute(resource: resourcePolicy, steps: auth, api: api).map(AdmissionStep.resourcePolicy)
        return (privateAPI ? [.privateEndpoint] : []) + (rules + identity).map(AdmissionStep.authorize) + (policy.map { [$0] } ?? []) + usage
    }
}
