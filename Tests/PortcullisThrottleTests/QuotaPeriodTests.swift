import Testing

@testable import PortcullisThrottle

/// Quota periods in UTC: day, ISO week (Monday), calendar month with its own length.
@Suite struct QuotaPeriodTests {
    /// Seconds since 1970 of a UTC date and time.
    static func t(_ y: Int64, _ m: Int64, _ d: Int64, _ h: Int64 = 0, _ mi: Int64 = 0, _ s: Int64 = 0) -> Int64 {
        QuotaPeriod.days(year: y, month: m, day: d) * 86_400 + h * 3600 + mi * 60 + s
    }

    @Test func days() {
        #expect(QuotaPeriod.DAY.start(of: Self.t(2026, 11, 30, 23, 59, 59)) == Self.t(2026, 11, 30))
        #expect(QuotaPeriod.DAY.end(of: Self.t(2026, 11, 30, 23, 59, 59)) == Self.t(2026, 12, 1))
        #expect(QuotaPeriod.DAY.start(of: Self.t(2026, 12, 1)) == Self.t(2026, 12, 1))
        #expect(QuotaPeriod.DAY.start(of: -1) == -86_400)
    }

    @Test func weeksStartOnMonday() {
        // 2026-11-30 is a Monday; 2026-12-06 a Sunday.
        #expect(QuotaPeriod.WEEK.start(of: Self.t(2026, 12, 6, 23, 59)) == Self.t(2026, 11, 30))
        #expect(QuotaPeriod.WEEK.start(of: Self.t(2026, 11, 30)) == Self.t(2026, 11, 30))
        #expect(QuotaPeriod.WEEK.start(of: Self.t(2026, 11, 29, 23, 59, 59)) == Self.t(2026, 11, 23))
        #expect(QuotaPeriod.WEEK.end(of: Self.t(2026, 12, 2)) == Self.t(2026, 12, 7))
        #expect(QuotaPeriod.WEEK.start(of: 0) == Self.t(1969, 12, 29))
    }

    @Test func monthsHaveTheirLengths() {
        #expect(QuotaPeriod.MONTH.start(of: Self.t(2026, 2, 28, 12)) == Self.t(2026, 2, 1))
        #expect(QuotaPeriod.MONTH.end(of: Self.t(2026, 2, 28, 12)) == Self.t(2026, 3, 1))
        #expect(QuotaPeriod.MONTH.end(of: Self.t(2028, 2, 10)) - Self.t(2028, 2, 1) == 29 * 86_400)  // leap year
        #expect(QuotaPeriod.MONTH.end(of: Self.t(2026, 12, 31, 23, 59, 59)) == Self.t(2027, 1, 1))
        #expect(QuotaPeriod.MONTH.end(of: Self.t(2026, 4, 15)) - QuotaPeriod.MONTH.start(of: Self.t(2026, 4, 15)) == 30 * 86_400)
        // Every day of 400 years maps to its month and back.
        var d = QuotaPeriod.days(year: 1900, month: 1, day: 1)
        let last = QuotaPeriod.days(year: 2300, month: 1, day: 1)
        var wrong: [Int64] = []
        while d < last {
            let (y, m, dd) = QuotaPeriod.civil(d)
            if QuotaPeriod.days(year: y, month: m, day: dd) != d || !(1...12).contains(m) || !(1...31).contains(dd) { wrong.append(d) }
            d += 1
        }
        #expect(wrong.isEmpty, "days that do not round-trip: \(wrong.prefix(5))")
    }
}
