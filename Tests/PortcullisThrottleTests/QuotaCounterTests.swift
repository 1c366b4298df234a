import Testing

@testable import PortcullisThrottle

/// Quota counters with a clock the test moves: the limit, rollover at the period's UTC
/// boundary, the offset of the first period, refunds, and the bound under contention.
@Suite struct QuotaCounterTests {
    static func t(_ y: Int64, _ m: Int64, _ d: Int64, _ h: Int64 = 0, _ mi: Int64 = 0, _ s: Int64 = 0) -> Int64 {
        QuotaPeriod.days(year: y, month: m, day: d) * 86_400 + h * 3600 + mi * 60 + s
    }

    @Test func limitThenRolloverAtMidnightUTC() {
        let now = Self.t(2026, 11, 30, 23, 59, 0)
        let q = QuotaCounter(limit: 3, period: .DAY, now: now)
        #expect(q.take(now: now) == .admitted(remaining: 2))
        #expect(q.take(now: now) == .admitted(remaining: 1))
        #expect(q.take(now: now) == .admitted(remaining: 0))
        #expect(q.take(now: now + 59) == .exceeded(resetsAt: Self.t(2026, 12, 1)))
        #expect(q.take(now: Self.t(2026, 12, 1)) == .admitted(remaining: 2))
        #expect(q.used(now: Self.t(2026, 12, 1, 12)) == 1)
    }

    @Test func offsetAppliesToTheFirstPeriodOnly() {
        let now = Self.t(2026, 11, 10)
        let q = QuotaCounter(limit: 5, period: .MONTH, offset: 3, now: now)
        #expect(q.take(now: now) == .admitted(remaining: 1))
        #expect(q.take(now: now) == .admitted(remaining: 0))
        #expect(q.take(now: Self.t(2026, 11, 30, 23, 59, 59)) == .exceeded(resetsAt: Self.t(2026, 12, 1)))
        #expect(q.remaining(now: Self.t(2026, 12, 1)) == 5)
        #expect(q.take(now: Self.t(2026, 12, 31, 23, 59, 59)) == .admitted(remaining: 4))
        #expect(q.take(now: Self.t(2027, 1, 1)) == .admitted(remaining: 4))
    }

    @Test func monthsAndWeeksRollOverOnTheirOwnBoundaries() {
        let feb = QuotaCounter(limit: 1, period: .MONTH, now: Self.t(2028, 2, 29, 12))
        #expect(feb.take(now: Self.t(2028, 2, 29, 12)) == .admitted(remaining: 0))
        #expect(feb.take(now: Self.t(2028, 2, 29, 23, 59, 59)) == .exceeded(resetsAt: Self.t(2028, 3, 1)))
        #expect(feb.take(now: Self.t(2028, 3, 1)) == .admitted(remaining: 0))
        let week = QuotaCounter(limit: 1, period: .WEEK, now: Self.t(2026, 12, 6, 23))  // a Sunday
        #expect(week.take(now: Self.t(2026, 12, 6, 23)) == .admitted(remaining: 0))
        #expect(week.take(now: Self.t(2026, 12, 6, 23, 59)) == .exceeded(resetsAt: Self.t(2026, 12, 7)))
        #expect(week.take(now: Self.t(2026, 12, 7)) == .admitted(remaining: 0))
    }

    @Test func refundsAndSeededCounts() {
        let now = Self.t(2026, 11, 30, 10)
        let q = QuotaCounter(limit: 10, period: .DAY, now: now, used: 9)
        #expect(q.take(now: now) == .admitted(remaining: 0))
        q.giveBack(now: now)
        #expect(q.take(now: now) == .admitted(remaining: 0))
        // A refund never reaches into another period, nor below zero.
        q.giveBack(now: Self.t(2026, 12, 1))
        #expect(q.used(now: now) == 10)
        let empty = QuotaCounter(limit: 1, period: .DAY, now: now)
        empty.giveBack(now: now)
        #expect(empty.used(now: now) == 0)
    }

    @Test func contentionNeverCountsPastTheLimit() async {
        let now = Self.t(2026, 11, 30, 10)
        let q = QuotaCounter(limit: 10_000, period: .DAY, now: now)
        let admitted = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var n = 0
                    for _ in 0..<5_000 { if case .admitted = q.take(now: now) { n += 1 } }
                    return n
                }
            }
            var total = 0
            for await n in group { total += n }
            return total
        }
        #expect(admitted == 10_000)
        #expect(q.used(now: now) == 10_000)
    }
}

/// Buckets per client or principal: one per key, bounded, idle ones evicted first.
@Suite struct KeyedBucketsTests {
    @Test func oneBucketPerKeyAndBounded() {
        let s: UInt64 = 1_000_000_000
        let k = KeyedBuckets(rate: 1, burst: 2, maxEntries: 256)
        #expect(k.bucket(for: "10.0.0.1", now: s) === k.bucket(for: "10.0.0.1", now: s))
        #expect(k.bucket(for: "10.0.0.1", now: s).take(now: s) == .admitted)
        #expect(k.bucket(for: "10.0.0.1", now: s).take(now: s) == .admitted)
        #expect(k.bucket(for: "10.0.0.1", now: s).take(now: s) != .admitted)
        #expect(k.bucket(for: "10.0.0.2", now: s).take(now: s) == .admitted)
        for i in 0..<10_000 { _ = k.bucket(for: "192.0.2.\(i)", now: s + 10 * s) }
        #expect(k.count <= 256)
    }

    @Test func usageStateKeepsUnchangedLimitsAcrossReloads() {
        let state = UsageState(monotonicNanos: { 1_000 }, wallSeconds: { 1_767_225_600 })
        let a = state.bucket("stage:demo", rate: 10, burst: 20)
        #expect(state.bucket("stage:demo", rate: 10, burst: 20) === a)
        #expect(state.bucket("stage:demo", rate: 10, burst: 30) !== a)
        let q = state.quota("quota:basic:k1", limit: 100, period: .DAY, offset: 0)
        #expect(state.quota("quota:basic:k1", limit: 100, period: .DAY, offset: 0) === q)
        #expect(state.quota("quota:basic:k1", limit: 200, period: .DAY, offset: 0) !== q)
    }
}
