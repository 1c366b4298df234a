import Foundation
import Synchronization
import Testing

@testable import PortcullisThrottle

/// The SQLite quota store: counts flushed in batches survive a new process (a new UsageState on
/// the same file), only deltas are written, days roll over, and a broken file is a clear error.
@Suite struct QuotaStoreTests {
    let dir: URL
    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-quota-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    final class Wall: Sendable {
        let t: Atomic<Int64>
        init(_ v: Int64) { t = Atomic(v) }
        var now: Int64 { t.load(ordering: .relaxed) }
        func set(_ v: Int64) { t.store(v, ordering: .relaxed) }
    }

    static let noon = QuotaPeriod.days(year: 2026, month: 11, day: 30) * 86_400 + 12 * 3600

    @Test func countsSurviveANewProcessAndOnlyDeltasAreWritten() throws {
        let path = dir.appendingPathComponent("quota.sqlite").path
        let wall = Wall(Self.noon)
        let store = try SQLiteQuotaStore(path: path)
        let a = UsageState(wallSeconds: { wall.now }, store: store)
        let q = a.quota("quota:basic:key:k1", limit: 10, period: .DAY, offset: 0)
        for _ in 0..<4 { _ = q.take(now: wall.now) }
        try a.flush()
        try a.flush()  // nothing new: nothing written twice
        #expect(try store.used(counter: "quota:basic:key:k1", from: Self.noon - 43_200, to: Self.noon + 43_200) == 4)
        _ = q.take(now: wall.now)
        try a.flush()

        // A new process on the same file starts from 5, not 0.
        let b = UsageState(wallSeconds: { wall.now }, store: try SQLiteQuotaStore(path: path))
        let q2 = b.quota("quota:basic:key:k1", limit: 10, period: .DAY, offset: 0)
        #expect(q2.used(now: wall.now) == 5)
        #expect(q2.take(now: wall.now) == .admitted(remaining: 4))
        try b.flush()
        #expect(try store.used(counter: "quota:basic:key:k1", from: Self.noon - 43_200, to: Self.noon + 43_200) == 6)

        // The next day is a new period and a new row; the report shows both days.
        wall.set(Self.noon + 86_400)
        #expect(q2.take(now: wall.now) == .admitted(remaining: 9))
        try b.flush()
        let days = try store.daily(prefix: "quota:basic:", from: Self.noon - 43_200, to: Self.noon + 2 * 86_400)
        #expect(days.map(\.used) == [6, 1])
    }

    @Test func theOffsetAppliesToTheFirstPeriodEverSeen() throws {
        let path = dir.appendingPathComponent("quota.sqlite").path
        let wall = Wall(Self.noon)
        let a = UsageState(wallSeconds: { wall.now }, store: try SQLiteQuotaStore(path: path))
        #expect(a.quota("quota:p:key:k", limit: 10, period: .MONTH, offset: 8).remaining(now: wall.now) == 2)
        // A restart in the next month: the first period is over, the offset no longer applies.
        wall.set(Self.noon + 5 * 86_400)
        let b = UsageState(wallSeconds: { wall.now }, store: try SQLiteQuotaStore(path: path))
        #expect(b.quota("quota:p:key:k", limit: 10, period: .MONTH, offset: 8).remaining(now: wall.now) == 10)
    }

    @Test func brokenStoresAreClearErrors() throws {
        let junk = dir.appendingPathComponent("junk.sqlite").path
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: junk))
        #expect {
            _ = try SQLiteQuotaStore(path: junk)
        } throws: { error in
            "\(error)".contains(junk) && "\(error)".contains("not a database")
        }
        #expect {
            _ = try SQLiteQuotaStore(path: "/proc/portcullis-no-such-dir/quota.sqlite")
        } throws: { error in
            "\(error)".contains("cannot open the quota store /proc/portcullis-no-such-dir/quota.sqlite")
        }
    }
}
