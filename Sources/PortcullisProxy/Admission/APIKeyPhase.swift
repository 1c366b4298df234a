import PortcullisAuth
import PortcullisConfig
import PortcullisCore
import PortcullisTLS

/// The API keys of a snapshot, by the SHA-256 of their value: a request's key is hashed once and
/// looked up. No key value is kept.
final class APIKeyTable: Sendable {
    struct Entry: Sendable {
        let id: String
        let enabled: Bool
        /// The key's usage plan for each API stage it may call (`api/stage`).
        let planByStage: [String: String]
    }
    let byHash: [KeyDigest: Entry]

    init(_ config: PortcullisConfig) {
        var table: [KeyDigest: Entry] = [:]
        for k in config.apiKeys {
            var plans: [String: String] = [:]
            for plan in k.usagePlans {
                for s in config.usagePlans[plan]?.stages ?? [] { plans["\(s.api)/\(s.stage)"] = plan }
            }
            guard let digest = k.valueHash.withUnsafeBytes(KeyDigest.init) else { continue }
            table[digest] = Entry(id: k.id, enabled: k.enabled, planByStage: plans)
        }
        byHash = table
    }
}

/// A SHA-256 as four words: hashed by its first word (the digest is already uniform, so a
/// dictionary needs nothing more) and compared in constant time, all 32 bytes every time.
struct KeyDigest: Hashable, Sendable {
    let w0, w1, w2, w3: UInt64

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 32 else { return nil }
        w0 = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        w1 = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        w2 = bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        w3 = bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
    }

    /// The SHA-256 of `value`, hashed on the stack.
    static func of(_ value: UnsafeRawBufferPointer) -> KeyDigest {
        withUnsafeTemporaryAllocation(byteCount: 32, alignment: 8) { out in
            Digest.hash(.sha256, value, into: out)
            return KeyDigest(UnsafeRawBufferPointer(out))!
        }
    }

    func hash(into hasher: inout Hasher) { hasher.combine(w0) }

    static func == (a: KeyDigest, b: KeyDigest) -> Bool {
        ((a.w0 ^ b.w0) | (a.w1 ^ b.w1) | (a.w2 ^ b.w2) | (a.w3 ^ b.w3)) == 0
    }
}

/// Admission phase 5, for routes with `api_key_required` (API Gateway's `apiKeyRequired`): the
/// key from `x-api-key` or from the identity an authorizer established, known, enabled, and in a
/// usage plan of this API stage. Anything else is API Gateway's 403 `{"message":"Forbidden"}`.
/// An accepted key joins the identity (`apiKeyID`, `usagePlan`) for the throttle and quota phases.
/// A class, so that the route's phase list holds one reference.
final class APIKeyPhase: Sendable {
    let keys: APIKeyTable
    /// `api/stage` of the route's API.
    let stage: String
    let source: APIKeySource

    init(keys: APIKeyTable, stage: String, source: APIKeySource) {
        self.keys = keys
        self.stage = stage
        self.source = source
    }

    func admit(_ request: AuthRequest, identity: Identity?) -> PhaseOutcome {
        // The key is hashed where it lies in the head: no String of it is made.
        let digest: KeyDigest?
        switch source {
        case .header:
            digest = request.head.headers.withFirstValue(named: "x-api-key") { $0.isEmpty ? nil : KeyDigest.of($0) } ?? nil
        case .authorizer(let claim):
            guard var value = identity?.claims[claim], !value.isEmpty else { return refuse("no API key (\(sourceName))") }
            digest = value.withUTF8 { KeyDigest.of(UnsafeRawBufferPointer($0)) }
        }
        guard let digest else { return refuse("no API key (\(sourceName))") }
        guard let entry = keys.byHash[digest] else { return refuse("unknown API key") }
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
