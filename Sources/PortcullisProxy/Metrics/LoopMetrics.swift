import NIOConcurrencyHelpers
import PortcullisCore

/// Stable numbers for the series of each API route (`api`, `route`), kept across reloads so that
/// counters never go backwards: a route that survives a reload keeps its slot. Slot 0 is for
/// requests that matched no route. Assigned when a snapshot compiles, never per request.
final class RouteSlots: Sendable {
    private let state = NIOLockedValueBox<(slots: [String: Int], names: [(api: String, route: String)])>(([:], [("-", "-")]))

    func slot(api: String, route: String) -> Int {
        state.withLockedValue { s in
            let key = api + "\u{0}" + route
            if let n = s.slots[key] { return n }
            s.names.append((api, route))
            s.slots[key] = s.names.count - 1
            return s.names.count - 1
        }
    }

    var names: [(api: String, route: String)] { state.withLockedValue { $0.names } }

    private let authorizerState = NIOLockedValueBox<(slots: [String: Int], names: [String])>(([:], []))

    /// The slot of an authorizer's decision counters (an `auth:` entry's name), stable across reloads.
    func authorizer(_ name: String) -> Int {
        authorizerState.withLockedValue { s in
            if let n = s.slots[name] { return n }
            s.names.append(name)
            s.slots[name] = s.names.count - 1
            return s.names.count - 1
        }
    }

    var authorizerNames: [String] { authorizerState.withLockedValue { $0.names } }
}

/// What an authorizer decided for one request, as `portcullis_authorizer_decisions_total` counts it.
enum AuthorizerOutcome: Int, CaseIterable, Sendable {
    case allow, deny, unauthorized, error

    var label: String {
        switch self {
        case .allow: return "allow"
        case .deny: return "deny"
        case .unauthorized: return "unauthorized"
        case .error: return "error"
        }
    }

    /// A refusal's outcome by its status: 401 unauthorized, 5xx error, any other deny.
    init(_ refusal: GatewayResponseType) {
        let status = refusal.defaultStatus
        self = status == 401 ? .unauthorized : status >= 500 ? .error : .deny
    }
}

/// One loop's request metrics: plain integers in one flat array, written only on the loop (no
/// lock, no atomics), copied and summed across loops when `/metrics` is scraped.
///
/// Per route slot, `stride` integers: the count of each status class (1xx to 5xx), then two
/// histograms (the whole request, the upstream's part) of `bounds.count` cumulative-ready
/// buckets, their sum in microseconds and their count.
struct LoopMetrics: Sendable {
    /// Histogram bucket upper bounds, microseconds (Prometheus `le`, in seconds when rendered).
    static let bounds: [Int64] = [500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000]
    static let histogram = bounds.count + 2
    static let stride = 5 + 2 * histogram
    static let totalOffset = 5
    static let upstreamOffset = 5 + histogram

    var routes: [Int] = []
    /// Authorizer decisions: `AuthorizerOutcome.allCases.count` counters per authorizer slot.
    var decisions: [Int] = []
    /// Answers from the gateway itself, by `GatewayResponseType` (in `allCases` order).
    var responses = [Int](repeating: 0, count: GatewayResponseType.allCases.count)

    mutating func record(slot: Int, status: Int, totalMicros: Int64, upstreamMicros: Int64) {
        let base = slot * Self.stride
        if routes.count < base + Self.stride { routes.append(contentsOf: repeatElement(0, count: base + Self.stride - routes.count)) }
        let statusClass = min(max(status / 100, 1), 5) - 1
        routes[base + statusClass] += 1
        Self.observe(&routes, base + Self.totalOffset, totalMicros)
        if upstreamMicros >= 0 { Self.observe(&routes, base + Self.upstreamOffset, upstreamMicros) }
    }

    mutating func recordDecision(slot: Int, _ outcome: AuthorizerOutcome) {
        let i = slot * AuthorizerOutcome.allCases.count + outcome.rawValue
        if decisions.count <= i { decisions.append(contentsOf: repeatElement(0, count: i + 1 - decisions.count)) }
        decisions[i] += 1
    }

    mutating func recordGatewayResponse(_ type: GatewayResponseType) {
        responses[type.ordinal] += 1
    }

    /// One observation: the first bucket whose bound holds it (the rest are summed when rendered).
    private static func observe(_ a: inout [Int], _ at: Int, _ micros: Int64) {
        var i = 0
        while i < bounds.count && micros > bounds[i] { i += 1 }
        if i < bounds.count { a[at + i] += 1 }
        a[at + bounds.count] += Int(micros)
        a[at + bounds.count + 1] += 1
    }

    static func + (a: LoopMetrics, b: LoopMetrics) -> LoopMetrics {
        var out = LoopMetrics()
        out.routes = [Int](repeating: 0, count: max(a.routes.count, b.routes.count))
        for (i, v) in a.routes.enumerated() { out.routes[i] += v }
        for (i, v) in b.routes.enumerated() { out.routes[i] += v }
        for i in out.responses.indices { out.responses[i] = a.responses[i] + b.responses[i] }
        out.decisions = [Int](repeating: 0, count: max(a.decisions.count, b.decisions.count))
        for (i, v) in a.decisions.enumerated() { out.decisions[i] += v }
        for (i, v) in b.decisions.enumerated() { out.decisions[i] += v }
        return out
    }
}

extension GatewayResponseType {
    /// Its place in `allCases`, computed once.
    static let ordinals: [GatewayResponseType: Int] = Dictionary(uniqueKeysWithValues: allCases.enumerated().map { ($1, $0) })
    var ordinal: Int { Self.ordinals[self] ?? 0 }
}
