import Synchronization

/// One key's quota in one usage plan: requests counted per calendar period (UTC), in one atomic
/// word (the period's number in the high 24 bits, the count in the low 40), so that every event
/// loop counts without a lock and a new period starts from zero by compare-and-swap.
public final class QuotaCounter: Sendable {
    public let limit: Int64
    public let period: QuotaPeriod
    /// Requests taken off the limit in the first period (API Gateway's `offset`).
    public let offset: Int64
    /// The number of the period the counter was made in (its first period).
    let firstPeriod: UInt64
    private let word: Atomic<UInt64>

    static let countBits: UInt64 = 40
    static let countMask: UInt64 = (1 << 40) - 1

    public enum Verdict: Sendable, Equatable {
        /// Counted; this many remain in the period.
        case admitted(remaining: Int64)
        /// The period's quota is spent; it resets at this time (seconds since 1970).
        case exceeded(resetsAt: Int64)
    }

    /// - Parameters:
    ///   - used: requests already counted in the period holding `now` (from the state store).
    ///   - firstPeriodStart: when the counter's first period began (the offset applies to it).
    public init(limit: Int64, period: QuotaPeriod, offset: Int64 = 0, now: Int64, used: Int64 = 0, firstPeriodStart: Int64? = nil) {
        self.limit = limit
        self.period = period
        self.offset = offset
        firstPeriod = Self.number(period, firstPeriodStart ?? now)
        word = Atomic(Self.number(period, now) << Self.countBits | UInt64(max(0, min(used, Int64(Self.countMask)))))
    }

    /// The period's number, 24 bits: days, weeks or months since 1970.
    static func number(_ p: QuotaPeriod, _ t: Int64) -> UInt64 {
        let start = p.start(of: t)
        let n: Int64
        switch p {
        case .DAY: n = floorDiv(start, 86_400)
        case .WEEK: n = floorDiv(start, 7 * 86_400)
        case .MONTH:
            let (y, m, _) = QuotaPeriod.civil(floorDiv(start, 86_400))
            n = (y - 1970) * 12 + (m - 1)
        }
        return UInt64(truncatingIfNeeded: n) & 0xFF_FFFF
    }

    func limit(forPeriod n: UInt64) -> Int64 { n == firstPeriod ? limit - offset : limit }

    /// Counts one request if the period has quota left.
    public func take(now: Int64) -> Verdict {
        let current = Self.number(period, now)
        let cap = limit(forPeriod: current)
        var seen = word.load(ordering: .relaxed)
        while true {
            let used = seen >> Self.countBits == current ? Int64(seen & Self.countMask) : 0
            if used >= cap { return .exceeded(resetsAt: period.end(of: now)) }
            let next = current << Self.countBits | UInt64(used + 1)
            let (done, actual) = word.compareExchange(expected: seen, desired: next, ordering: .relaxed)
            if done { return .admitted(remaining: cap - used - 1) }
            seen = actual
        }
    }

    /// Gives back a request counted for one that a later phase refused (same period only).
    public func giveBack(now: Int64) {
        let current = Self.number(period, now)
        var seen = word.load(ordering: .relaxed)
        while seen >> Self.countBits == current && seen & Self.countMask > 0 {
            let (done, actual) = word.compareExchange(expected: seen, desired: seen - 1, ordering: .relaxed)
            if done { return }
            seen = actual
        }
    }

    /// Requests counted in the period holding `now`.
    public func used(now: Int64) -> Int64 {
        let w = word.load(ordering: .relaxed)
        return w >> Self.countBits == Self.number(period, now) ? Int64(w & Self.countMask) : 0
    }

    /// Requests left in the period holding `now`.
    public func remaining(now: Int64) -> Int64 { max(0, limit(forPeriod: Self.number(period, now)) - used(now: now)) }
}
