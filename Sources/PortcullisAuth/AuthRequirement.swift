public import NIOCore
public import PortcullisCore

/// One entry of a route's `auth:` list, and one admission phase: it must allow for the request
/// to go on. `anyOf` allows when one of its steps does; a step whose identity source is absent
/// abstains, so the next alternative gets its turn without a missing token counting as a refusal.
public enum AuthRequirement: Sendable, AdmissionPhase {
    case step(AuthStep)
    case anyOf([AuthStep])

    /// A plain address rule (`type: ip` alone, not inside `any_of`): admission runs these before
    /// the authorizers that establish an identity, whatever their place in the `auth:` list.
    public var isAddressRule: Bool {
        if case .step(.ip) = self { return true }
        return false
    }

    /// The `auth:` entry as written: the authorizer's name, or `any_of(a,b)`.
    public var name: String {
        switch self {
        case .step(let s): return s.name
        case .anyOf(let steps): return "any_of(" + steps.map(\.name).joined(separator: ",") + ")"
        }
    }

    /// Whether a step of this requirement reads the request body.
    public var needsBody: Bool {
        switch self {
        case .step(let s): return s.needsBody
        case .anyOf(let steps): return steps.contains { $0.needsBody }
        }
    }

    public func admit(_ request: AuthRequest, identity: Identity?, on loop: any EventLoop) -> Eventually<PhaseOutcome> {
        decide(request, on: loop).map { decision in
            switch decision {
            case .allow(let id): return .pass(id, undo: nil)
            case .abstain(let r), .refuse(let r): return .refuse(r)
            }
        }
    }

    public func decide(_ request: AuthRequest, on loop: any EventLoop) -> AuthResult {
        switch self {
        case .step(let s): return s.evaluate(request, on: loop)
        case .anyOf(let steps): return Self.firstAllowing(steps[...], request, loop, refused: nil, abstained: nil)
        }
    }

    /// The first step that allows wins. If none does, the first real refusal is the answer (an
    /// invalid token says more than a missing one); if every step abstained, the first abstention's.
    /// The order in the config says which answer the client sees.
    private static func firstAllowing(
        _ steps: ArraySlice<AuthStep>, _ request: AuthRequest, _ loop: any EventLoop, refused: Refusal?, abstained: Refusal?
    ) -> AuthResult {
        var refused = refused
        var abstained = abstained
        var rest = steps
        while let step = rest.popFirst() {
            switch step.evaluate(request, on: loop) {
            case .now(.allow(let id)): return .now(.allow(id))
            case .now(.refuse(let r)): refused = refused ?? r
            case .now(.abstain(let r)): abstained = abstained ?? r
            case .later(let future):
                let (r0, a0, remaining) = (refused, abstained, rest)
                return Eventually.later(future).flatMap { d in
                    switch d {
                    case .allow: return .now(d)
                    case .refuse(let r): return firstAllowing(remaining, request, loop, refused: r0 ?? r, abstained: a0)
                    case .abstain(let r): return firstAllowing(remaining, request, loop, refused: r0, abstained: a0 ?? r)
                    }
                }
            }
        }
        if let refused { return .now(.refuse(refused)) }
        if let abstained { return .now(.abstain(abstained)) }
        return .now(.refuse(Refusal(.UNAUTHORIZED, reason: "no authorizer allowed")))
    }
}
