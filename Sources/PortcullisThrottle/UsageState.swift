public import PortcullisCore
import Synchronization

/// Buckets and quota counters that outlive a config snapshot, by stable names (`stage:demo`,
/// `plan:basic:key:k1`, ...): a reload keeps the state of every limit whose name and settings
/// did not change, and starts afresh the ones that did. Locked only while a snapshot is built,
/// never per request: requests hold the objects themselves.
public final class UsageState: Sendable {
    private let buckets = Mutex<[String: TokenBucket]>([:])
    private let keyed = Mutex<[String: KeyedBuckets]>([:])
    private let quotas = Mutex<[String: QuotaCounter]>([:])
    /// What the store holds of each counter: its period's start and the count written so far.
    private let flushed = Mutex<[String: (period: Int64, count: Int64)]>([:])
    /// Monotonic nanoseconds for buckets; seconds since 1970 for quotas. Injected for tests.
    public let monotonicNanos: @Sendable () -> UInt64
    public let wallSeconds: @Sendable () -> Int64
    /// Where counts persist (`state_dir`); nil: memory only.
    public let store: (any QuotaStore)?
    /// The last store failure, for the server to log (traffic goes on: counters stay in memory).
    private let storeProblems = Mutex<[String]>([])
    private let healthy = Atomic<Bool>(true)

    /// False while the store (if one was asked for) cannot be opened or written.
    public var storeHealthy: Bool { healthy.load(ordering: .relaxed) }
    public func setStoreHealthy(_ ok: Bool) { healthy.store(ok, ordering: .relaxed) }

    /// Store failures since the last call, for the server to log.
    public func takeStoreProblems() -> [String] {
        storeProblems.withLock { p in
            defer { p.removeAll() }
            return p
        }
    }

    public init(
        monotonicNanos: @escaping @Sendable () -> UInt64 = MonotonicClock.now, wallSeconds: @escaping @Sendable () -> Int64 = { Int64(JWTClock.system.now()) },
        store: (any QuotaStore)? = nil
    ) {
        self.monotonicNanos = monotonicNanos
        self.wallSeconds = wallSeconds
        self.store = store
    }

    public func bucket(_ name: String, rate: Double, burst: Int) -> TokenBucket {
        buckets.withLock { table in
            if let b = table[name], b.rate == rate, b.burst == burst { return b }
            let b = TokenBucket(rate: rate, burst: burst, now: monotonicNanos())
            table[name] = b
            return b
        }
    }

    public func keyedBuckets(_ name: String, rate: Double, burst: Int) -> KeyedBuckets {
        keyed.withLock { table in
            if let b = table[name], b.rate == rate, b.burst == burst { return b }
            let b = KeyedBuckets(rate: rate, burst: burst)
            table[name] = b
            return b
        }
    }

    /// A quota counter, kept across reloads while its limit, period and offset stay; `used`
    /// seeds a new one (from the state store after a restart).
    public func quota(_ name: String, limit: Int64, period: QuotaPeriod, offset: Int64) -> QuotaCounter {
        quotas.withLock { table in
            if let q = table[name], q.limit == limit, q.period == period, q.offset == offset { return q }
            let now = wallSeconds()
            let start = period.start(of: now)
            var used: Int64 = 0
            var first = now
            if let store {
                do {
                    first = try store.firstSeen(counter: name, now: now)
                    used = try store.used(counter: name, from: start, to: period.end(of: now))
                } catch {
                    storeProblems.withLock { $0.append("\(error)") }
                }
            }
            let q = QuotaCounter(limit: limit, period: period, offset: offset, now: now, used: used, firstPeriodStart: first)
            flushed.withLock { $0[name] = (start, used) }
            table[name] = q
            return q
        }
    }

    /// Writes what the counters counted since the last flush to the store, one transaction.
    /// Called about once a second off the event loops (and at shutdown): a crash loses at most
    /// what was counted since. A failed write keeps the counts for the next try.
    public func flush() throws {
        guard let store else { return }
        let now = wallSeconds()
        let day = QuotaPeriod.DAY.start(of: now)
        var deltas: [QuotaDelta] = []
        var marks: [(String, Int64, Int64)] = []
        let baselines = flushed.withLock { $0 }
        for (name, q) in quotaCounters {
            let start = q.period.start(of: now)
            let used = q.used(now: now)
            let base = baselines[name].flatMap { $0.period == start ? $0.count : nil } ?? 0
            if used > base { deltas.append(QuotaDelta(counter: name, day: day, count: used - base)) }
            if used != base || baselines[name]?.period != start { marks.append((name, start, used)) }
        }
        try store.add(deltas)
        flushed.withLock { table in for (n, s, c) in marks { table[n] = (s, c) } }
    }

    /// Every quota counter by name (for the store and usage reports).
    public var quotaCounters: [String: QuotaCounter] { quotas.withLock { $0 } }
}

#if canImport(Glibc)
import Glibc
#endif

public enum MonotonicClock {
    @Sendable public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
