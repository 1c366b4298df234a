import PortcullisAuth
import PortcullisConfig
import PortcullisCore
import PortcullisTLS

/// The API keys of a snapshot, by the SHA-256 of their value: a request's key is hashed once and
/// looked up. No key value is kept. Each key has a slot (its place in the config's list), by which
/// the later phases find its plan, buckets and counter.
final class APIKeyTable: Sendable {
    struct Entry: Sendable {
        let id: String
        let enabled: Bool
        let digest: KeyDigest
        /// The key's usage plan for each API stage it may call (`api/stage`).
        let planByStage: [String: String]
    }
    /// By slot.
    let entries: [Entry]
    /// Open addressing on the digest's first word (already uniform): slot + 1, 0 for empty.
    private let index: [Int32]
    private let mask: Int

    init(_ config: PortcullisConfig) {
        var entries: [Entry] = []
        for k in config.apiKeys {
            var plans: [String: String] = [:]
            for plan in k.usagePlans {
                for s in config.usagePlans[plan]?.stages ?? [] { plans["\(s.api)/\(s.stage)"] = plan }
            }
            guard let digest = k.valueHash.withUnsafeBytes(KeyDigest.init) else { continue }
            entries.append(Entry(id: k.id, enabled: k.enabled, digest: digest, planByStage: plans))
        }
        var size = 16
        while size < entries.count * 2 { size *= 2 }
        var index = [Int32](repeating: 0, count: size)
        for (slot, e) in entries.enumerated() {
            var i = Int(truncatingIfNeeded: e.digest.w0) & (size - 1)
            while index[i] != 0 { i = (i + 1) & (size - 1) }
            index[i] = Int32(slot + 1)
        }
        self.entries = entries
        self.index = index
        mask = size - 1
    }

    /// The slot of the key with this digest, if any.
    func slot(of digest: KeyDigest) -> Int? {
        var i = Int(truncatingIfNeeded: digest.w0) & mask
        while index[i] != 0 {
            let slot = Int(index[i]) - 1
            if entries[slot].digest == digest { return slot }
            i = (i + 1) & mask
        }
        return nil
    }

    /// The slot of each key id.
    var slotByID: [String: Int] {
        Dictionary(entries.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
    }
}

/// A SHA-256 as four words: its first word places it in the table (the digest is already
/// uniform), and it is compared in constant time, all 32 bytes every time.
struct KeyDigest: Equatable, Sendable {
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
    /// Each key's usage plan for this stage, by slot (nil: in no plan of it).
    let planBySlot: [String?]
    /// The identity of a request that brings only its key (no authorizer before this phase),
    /// by slot, made at load: such a request takes a reference, not a new identity.
    let keyIdentityBySlot: [Identity?]

    /// - Parameter keyIdentities: `keyIdentities(keys, stage:)`, made once per stage and shared by
    ///   the stage's routes (nil: made here).
    init(keys: APIKeyTable, stage: String, source: APIKeySource, keyIdentities: [Identity?]? = nil) {
        self.keys = keys
        self.stage = stage
        self.source = source
        planBySlot = keys.entries.map { $0.planByStage[stage] }
        keyIdentityBySlot = keyIdentities ?? Self.keyIdentities(keys, stage: stage)
    }

    /// Each key's identity for `stage` by slot (nil for a key in no plan of it).
    static func keyIdentities(_ keys: APIKeyTable, stage: String) -> [Identity?] {
        keys.entries.indices.map { slot in
            keys.entries[slot].planByStage[stage].map { joined(nil, key: keys.entries[slot].id, plan: $0, slot: slot) }
        }
    }

    func admit(_ request: AuthRequest, identity: Identity?) -> PhaseOutcome {
        // The key is hashed where it lies in the head: no String of it is made.
        let digest: KeyDigest?
        switch source {
        case .header:
            digest = request.head.headers.withFirstValue(named: "x-api-key" as StaticString) { $0.isEmpty ? nil : KeyDigest.of($0) } ?? nil
        case .authorizer(let claim):
            // An external authorizer's usageIdentifierKey; a JWT authorizer's claim.
            let given = identity?.kind == .external && claim == APIKeySource.usageIdentifierKey ? identity?.usageIdentifierKey : identity?.claims[claim]
            guard var value = given, !value.isEmpty else { return refuse("no API key (\(sourceName))") }
            digest = value.withUTF8 { KeyDigest.of(UnsafeRawBufferPointer($0)) }
        }
        guard let digest else { return refuse("no API key (\(sourceName))") }
        guard let slot = keys.slot(of: digest) else { return refuse("unknown API key") }
        let entry = keys.entries[slot]
        guard entry.enabled else { return refuse("API key \(entry.id) is disabled") }
        guard let plan = planBySlot[slot] else { return refuse("API key \(entry.id) is in no usage plan of \(stage)") }
        guard let identity else { return .pass(keyIdentityBySlot[slot], undo: nil) }
        return .pass(Self.joined(identity, key: entry.id, plan: plan, slot: slot), undo: nil)
    }

    /// The identity with the accepted key: an authorizer's, or the key's own when none ran.
    static func joined(_ identity: Identity?, key: String, plan: String, slot: Int) -> Identity {
        var id = identity ?? Identity(principal: key, authorizer: "api_key", kind: .apiKey)
        id.apiKeyID = key
        id.usagePlan = plan
        id.apiKeySlot = slot
        return id
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
