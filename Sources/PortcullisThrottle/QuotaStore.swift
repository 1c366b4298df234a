/// Where quota counts outlive the process. A protocol, so that a store shared by a fleet of
/// sidecars can replace the local file without touching the admission phases.
///
/// Counts are kept per counter (`quota:PLAN:key:ID`) and UTC day; a period's count is the sum of
/// its days, which is also API Gateway's usage report (GetUsage: used and remaining per day).
public protocol QuotaStore: Sendable {
    /// Requests counted for `counter` on the days in `[from, to)` (seconds since 1970).
    func used(counter: String, from: Int64, to: Int64) throws -> Int64
    /// When the counter's first period began (its offset applies to it); recorded as `now` the
    /// first time a counter is seen.
    func firstSeen(counter: String, now: Int64) throws -> Int64
    /// Adds counted requests to days.
    func add(_ deltas: [QuotaDelta]) throws
    /// Requests per day for counters whose name starts with `prefix`, for usage reports.
    func daily(prefix: String, from: Int64, to: Int64) throws -> [(counter: String, day: Int64, used: Int64)]
}

public struct QuotaDelta: Sendable, Equatable {
    public var counter: String
    /// The day's start, seconds since 1970.
    public var day: Int64
    public var count: Int64

    public init(counter: String, day: Int64, count: Int64) {
        self.counter = counter
        self.day = day
        self.count = count
    }
}

public struct QuotaStoreError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
