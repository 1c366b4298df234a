import NIOCore
import Synchronization

/// Passive health of one upstream endpoint, shared by the pools that every event loop keeps for it.
///
/// Connections stay per loop, health does not: if each loop kept its own record, an endpoint that
/// came back after an outage would be readmitted loop by loop, each one waiting out its own ejection
/// (doubling up to 30 s) while the endpoint was already serving. With one record a refused connect
/// on any loop ejects the endpoint on all of them, and a connect that succeeds on any loop readmits it
/// on all of them.
///
/// Threads: any loop reads and writes it, with atomics and no lock. The pick reads one word per
/// candidate; writes happen only when something changes (a failed connect, or the first successful one
/// after failures), so a healthy endpoint's record is only ever read and its cache line stays shared
/// by the loops. The two words are written separately: a success racing a failure on another loop may
/// leave the count of one and the deadline of the other. Both outcomes are safe: the next connect
/// result writes both again, an ejection expires by itself, and a group whose endpoints are all ejected
/// is tried anyway (`LoopContext.pickEndpoint`).
final class EndpointHealth: Sendable {
    /// The endpoint's stable key (`EndpointSpec.key`).
    let key: String
    private let failures = Atomic<Int>(0)
    /// Ejected until this `NIODeadline.uptimeNanoseconds`; 0 when admitted.
    private let ejectedUntil = Atomic<UInt64>(0)

    /// The longest ejection, however many connects failed in a row.
    static let maxEjection: TimeAmount = .seconds(30)

    init(key: String) { self.key = key }

    func isHealthy(_ now: NIODeadline) -> Bool {
        now.uptimeNanoseconds >= ejectedUntil.load(ordering: .relaxed)
    }

    /// Connects that failed in a row, on any loop.
    var consecutiveFailures: Int { failures.load(ordering: .relaxed) }

    /// A connection was made: the endpoint is admitted again on every loop. Writes only if it was
    /// failing, so the common case (a healthy endpoint) costs one load.
    func connectSucceeded() {
        guard failures.load(ordering: .relaxed) != 0 else { return }
        failures.store(0, ordering: .relaxed)
        ejectedUntil.store(0, ordering: .relaxed)
    }

    /// A connect failed: eject for `base`, doubling per consecutive failure, at most `maxEjection`.
    func connectFailed(now: NIODeadline, base: TimeAmount) {
        let n = failures.wrappingAdd(1, ordering: .relaxed).newValue
        let backoff = base.nanoseconds << Int64(min(max(n - 1, 0), 5))
        let until = now + .nanoseconds(min(backoff, Self.maxEjection.nanoseconds))
        ejectedUntil.store(until.uptimeNanoseconds, ordering: .relaxed)
    }
}

/// The health records of every endpoint a server has used, by endpoint key. Owned by the server and
/// handed to every loop, so that all loops' pools for one endpoint hold the same record, and a
/// reload that keeps an endpoint keeps its health.
///
/// Threads: looked up under a lock, but only when a loop builds its pool table for a new snapshot,
/// never per request (requests reach the record through their pool). Records are never removed:
/// like the loops' pools, there is one per endpoint key ever configured, a few words each.
final class EndpointHealthStore: Sendable {
    private let records = Mutex<[String: EndpointHealth]>([:])

    init() {}

    /// The record for an endpoint key, made on first use.
    func record(for key: String) -> EndpointHealth {
        records.withLock { r in
            if let h = r[key] { return h }
            let h = EndpointHealth(key: key)
            r[key] = h
            return h
        }
    }
}
