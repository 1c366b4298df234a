import PortcullisAuth
import PortcullisConfig
import PortcullisCore
import PortcullisTLS

/// The API keys of a snapshot, by the SHA-256 of their value: a request's key is hashed once and
/// looked up; the stored hash is then compared in constant time. No key value is kept.
final class APIKeyTable: Sendable {
    struct Entry: Sendable {
        let id: String
        let enabled: Bool
        let hash: [UInt8]
        /// The key's usage plan for each API stage it may call (`api/stage`).
        let planByStage: [String: String]
    }
    let byHash: [[UInt8]: Entry]

    init(_ config: PortcullisConfig) {
        var table: [[UInt8]: Entry] = [:]
        for k in config.apiKeys {
            var plans: [String: String] = [:]
            for plan in k.usagePlans {
                for s in config.usagePlans[plan]?.stages ?? [] { plans["\(s.api)/\(s.stage)"] = plan }
            }
            table[k.valueHash] = Entry(id: k.id, enabled: k.enabled, hash: k.valueHash, planByStage: plans)
        }
        byHash = table
    }
}

/// Admission phase 5, for routes with `api_key_required` (API Gateway's `apiKeyRequired`): the
/// key from `x-api-key` or from the identity an authorizer established, known, enabled, and in a
/// usage plan of this API stage. Anything else is API Gateway's 403 `{"message":"Forbidden"}`.
/// An accepted key joins the identity (`apiKeyID`, `usagePlan`) for the throttle and quota phases.
struct APIKeyPhase: Sendable {
    let keys: APIKeyTable
    /// `api/stage` of the route's API.
    let stage: String
    let source: APIKeySource

    func admit(_ request: AuthRequest, identity: Identity?) -> PhaseOutcome {
        let value: String?
        switch source {
        case .header: value = request.head.headers.first(named: "x-api-key")
        case .authorizer(let claim):
            // An external authorizer's usageIdentifierKey; a JWT authorizer's claim.
            if identity?.kind == .external, claim == APIKeySource.usageIdentifierKey {
                value = identity?.usageIdentifierKey
            } else {
                value = identity?.claims[claim]
            }
        }
        guard let value, !value.isEmpty else { return refuse("no API key (\(sourceName))") }
        let digest = Digest.hash(.sha256, Array(value.utf8))
        guard let entry = keys.byHash[digest], constantTimeEquals(entry.hash, digest) else { return refuse("unknown API key") }
        guard entry.enabled else { return refuse("API key \(entry.id) is disabled") }
        guard let plan = entry.planByStage[stage] else { return refuse("API key \(entry.id) is in no usage plan of \(stage)") }
        var id = identity ?? Identity(principal: entry.id, authorizer: "api_key", kind: .apiKey)
        id.apiKeyID = entry.id
        id.usagePlan = plan
        return .pass(id, undo: nil)
    }

    var sourceName: String {
        switch source {
        case .header: return "x-api-key header"
        case .authorizer(let claim): return "authorizer claim \(claim)"
        }
    }

    func refuse(_ reason: String) -> PhaseOutcome {
        .refuse(Refusal(.INVALID_API_KEY, reason: reason))
    }
}
