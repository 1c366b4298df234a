import Foundation
import PortcullisConfig
import PortcullisThrottle
import Testing

@testable import PortcullisProxy

/// GetUsage from a quota store: per key and day, `[used, remaining]` with remaining counted
/// down through the quota's period.
@Suite struct UsageReportTests {
    /// Today's UTC date as `YYYY-MM-DD`.
    static func today() -> String {
        let f = DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd"
        return f.string(from: Date())
    }

    @Test func daysAreStrictDates() {
        #expect(UsageReport.day("1970-01-02") == 86_400)
        #expect(UsageReport.day("2026-11-30") == 1_795_996_800)
        for bad in ["2026-11", "2026-13-01", "2026-1-01", "26-11-30", "2026-11-30x", "", "2026--11-30"] {
            #expect(UsageReport.day(bad) == nil, "\(bad)")
        }
    }

    @Test func remainingCountsDownThroughAWeeklyPeriod() throws {
        let config = try ConfigLoader.parse("""
            listeners: [{ name: public, listen: "127.0.0.1:0" }]
            usage_plans:
              weekly: { stages: [{ api: demo, stage: demo }], quota: { limit: 10, period: WEEK } }
            api_keys:
              keys: [{ id: k1, usage_plans: [weekly], value: key-value-one-0123456789 }]
            apis:
              - { name: demo, stage: demo, routes: [{ path: /a, upstream: echo, api_key_required: true }] }
            upstreams:
              echo: { endpoints: ["http://127.0.0.1:9"] }
            """, file: "t.yaml")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("usage-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try SQLiteQuotaStore(path: path)
        // 2026-11-30 is a Monday (the week starts there); 2026-11-29 a Sunday of the week before.
        let sunday = UsageReport.day("2026-11-29")!, monday = UsageReport.day("2026-11-30")!, tuesday = UsageReport.day("2026-12-01")!
        try store.add([
            QuotaDelta(counter: "quota:weekly:key:k1", day: sunday, count: 7),
            QuotaDelta(counter: "quota:weekly:key:k1", day: monday, count: 4),
            QuotaDelta(counter: "quota:weekly:key:k1", day: tuesday, count: 9),
        ])
        let json = try UsageReport(plan: "weekly", keyID: nil, start: "2026-11-29", end: "2026-12-02").json(config: config, store: store)
        #expect(json == #"{"usagePlanId":"weekly","startDate":"2026-11-29","endDate":"2026-12-02","values":{"k1":[[7,3],[4,6],[9,0],[0,0]]}}"#)
        #expect(throws: UsageReport.Problem.self) { try UsageReport(plan: "weekly", keyID: nil, start: "2026-12-02", end: "2026-11-29").json(config: config, store: store) }
        #expect(try UsageReport.plan(named: nil, in: config) == "weekly")
    }
}
