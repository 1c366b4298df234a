import PortcullisCore

/// A usage plan's quota period, as API Gateway counts it: calendar periods in UTC (§4.2). A day
/// starts at 00:00 UTC, a week on Monday 00:00 UTC (API Gateway does not document its start day;
/// ISO 8601's is used), a month on its first day. Pure arithmetic on seconds since 1970.
public enum QuotaPeriod: String, Sendable, CaseIterable {
    case DAY, WEEK, MONTH

    /// The start of the period that holds `t`.
    public func start(of t: Int64) -> Int64 {
        let day = floorDiv(t, 86_400)
        switch self {
        case .DAY:
            return day * 86_400
        case .WEEK:
            // 1970-01-01 was a Thursday: Monday-based weekday = (day + 3) mod 7.
            let weekday = floorMod(day + 3, 7)
            return (day - weekday) * 86_400
        case .MONTH:
            let (y, m, _) = Self.civil(day)
            return Self.days(year: y, month: m, day: 1) * 86_400
        }
    }

    /// The start of the next period after the one that holds `t`.
    public func end(of t: Int64) -> Int64 {
        let s = start(of: t)
        switch self {
        case .DAY: return s + 86_400
        case .WEEK: return s + 7 * 86_400
        case .MONTH:
            let (y, m, _) = Self.civil(floorDiv(s, 86_400))
            return (m == 12 ? Self.days(year: y + 1, month: 1, day: 1) : Self.days(year: y, month: m + 1, day: 1)) * 86_400
        }
    }

    /// Days since 1970 of a civil date.
    public static func days(year: Int64, month: Int64, day: Int64) -> Int64 { CivilTime.days(year: year, month: month, day: day) }

    /// The civil date of a day since 1970.
    public static func civil(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) { CivilTime.date(days: days) }
}

@inline(__always) func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
@inline(__always) func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }
