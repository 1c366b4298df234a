import Synchronization

/// API Gateway's token bucket (shared/AWS_SEMANTICS.md §4.3): `burst` tokens, refilled at `rate`
/// per second, one taken per request; an empty bucket throttles.
///
/// Kept as the generic cell rate algorithm over one atomic word: the *theoretical arrival time*
/// (TAT), the instant at which the bucket would be full again, in nanoseconds of a monotonic
/// clock. A request at `now` is admitted when `max(TAT, now) - now` is within `(burst - 1)`
/// intervals; admitting moves TAT on by one interval (1/rate). Every event loop takes from the
/// same bucket by compare-and-swap, without a lock: under any interleaving the bucket admits at
/// most `burst + rate × elapsed` requests (`TokenBucketTests` hammers it from several threads).
/// Giving a token back (a later phase refused the request) moves TAT back by one interval.
public final class TokenBucket: Sendable {
    public let rate: Double
    public let burst: Int
    /// Nanoseconds per token.
    let interval: UInt64
    /// How far ahead of `now` TAT may be and still admit: (burst - 1) intervals.
    let tolerance: UInt64
    private let tat: Atomic<UInt64>

    public enum Verdict: Sendable, Equatable {
        case admitted
        /// Throttled; a token is back after this many nanoseconds (for Retry-After).
        case throttled(retryAfterNanos: UInt64)
    }

    /// A full bucket. `rate` > 0 and `burst` ≥ 1: the config refuses anything else.
    public init(rate: Double, burst: Int, now: UInt64) {
        precondition(rate > 0 && rate.isFinite && burst >= 1, "bucket limits are checked by the config")
        self.rate = rate
        self.burst = burst
        let i = max(1, UInt64((1e9 / rate).rounded()))
        interval = i
        tolerance = i.multipliedReportingOverflow(by: UInt64(burst - 1)).overflow ? UInt64.max / 2 : i * UInt64(burst - 1)
        tat = Atomic(now)
    }

    /// Takes one token if there is one.
    public func take(now: UInt64) -> Verdict {
        var current = tat.load(ordering: .relaxed)
        while true {
            let base = max(current, now)
            let ahead = base - now
            if ahead > tolerance { return .throttled(retryAfterNanos: ahead - tolerance) }
            let (done, seen) = tat.compareExchange(expected: current, desired: base + interval, ordering: .relaxed)
            if done { return .admitted }
            current = seen
        }
    }

    /// Gives back a token taken for a request that a later phase refused: refused requests
    /// consume nothing. Never fills the bucket beyond `burst`.
    public func giveBack(now: UInt64) {
        var current = tat.load(ordering: .relaxed)
        while current > now {
            let back = current - min(interval, current - now)
            let (done, seen) = tat.compareExchange(expected: current, desired: back, ordering: .relaxed)
            if done { return }
            current = seen
        }
    }

    /// Tokens left at `now` (whole ones), for RateLimit headers.
    public func remaining(now: UInt64) -> Int {
        let current = tat.load(ordering: .relaxed)
        let ahead = current > now ? current - now : 0
        let used = (ahead + interval - 1) / interval
        return max(0, burst - Int(min(used, UInt64(burst))))
    }

    /// Nanoseconds until the bucket is full again, for RateLimit's reset.
    public func fullIn(now: UInt64) -> UInt64 {
        let current = tat.load(ordering: .relaxed)
        return current > now ? current - now : 0
    }
}
