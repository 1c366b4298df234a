import Synchronization

/// Buckets and quota counters that outlive a config snapshot, by stable names (`stage:demo`,
/// `plan:basic:key:k1`, ...): a reload keeps the state of every limit whose name and settings
/// did not change, and starts afresh the ones that did. Locked only while a snapshot is built,
/// never per request: requests hold the objects themselves.
public final class UsageState: Sendable {
    private let buckets = Mutex<[String: TokenBucket]>([:])
    private let keyed = Mutex<[String: KeyedBuckets]>([:])
    private let quotas = Mutex<[String: QuotaCounter]>([:])
    /// Monotonic nanoseconds for buckets; seconds since 1970 for quotas. Injected for tests.
    public let monotonicNanos: @Sendable () -> UInt64
    public let wallSeconds: @Sendable () -> Int64

    public init(monotonicNanos: @escaping @Sendable () -> UInt64 = MonotonicClock.now, wallSeconds: @escaping @Sendable () -> Int64 = WallClock.now) {
        self.monotonicNanos = monotonicNanos
        self.wallSeconds = wallSeconds
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
    public func quota(_ name: String, limit: Int64, period: QuotaPeriod, offset: Int64, used: Int64 = 0) -> QuotaCounter {
        quotas.withLock { table in
            if let q = table[name], q.limit == limit, q.period == period, q.offset == offset { return q }
            let q = QuotaCounter(limit: limit, period: period, offset: offset, now: wallSeconds(), used: used)
            table[name] = q
            return q
        }
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

public enum WallClock {
    @Sendable public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }
}
