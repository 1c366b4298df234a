import Synchronization
import Testing

@testable import PortcullisThrottle

/// Token-bucket semantics with a clock the test moves (nanoseconds), and the bound under
/// contention from several threads.
@Suite struct TokenBucketTests {
    static let second: UInt64 = 1_000_000_000
    static let t0: UInt64 = 1_000 * second

    func admitted(_ b: TokenBucket, _ n: Int, at now: UInt64) -> Int {
        (0..<n).filter { _ in b.take(now: now) == .admitted }.count
    }

    @Test func burstThenRefillAtRate() {
        let b = TokenBucket(rate: 10, burst: 20, now: Self.t0)
        #expect(admitted(b, 25, at: Self.t0) == 20)
        guard case .throttled(let wait) = b.take(now: Self.t0) else {
            Issue.record("an empty bucket must throttle")
            return
        }
        #expect(wait == Self.second / 10)  // one token every 100 ms
        #expect(admitted(b, 5, at: Self.t0 + Self.second / 10 - 1) == 0)
        #expect(admitted(b, 5, at: Self.t0 + Self.second / 10) == 1)
        // Two seconds later: 20 tokens again, never more than burst.
        #expect(admitted(b, 50, at: Self.t0 + 10 * Self.second) == 20)
    }

    @Test func fractionalRates() {
        // 0.5 per second: one token every 2 s.
        let b = TokenBucket(rate: 0.5, burst: 1, now: Self.t0)
        #expect(b.take(now: Self.t0) == .admitted)
        #expect(b.take(now: Self.t0 + Self.second) == .throttled(retryAfterNanos: Self.second))
        #expect(b.take(now: Self.t0 + 2 * Self.second) == .admitted)
        // 2.5 per second over 10 s: 25 tokens (plus the one of the full bucket).
        let c = TokenBucket(rate: 2.5, burst: 1, now: Self.t0)
        var n = 0
        for ms in stride(from: UInt64(0), through: 10_000, by: 10) where c.take(now: Self.t0 + ms * 1_000_000) == .admitted { n += 1 }
        #expect(n == 26)
    }

    @Test func givingBackRefundsButNeverOverfills() {
        let b = TokenBucket(rate: 1, burst: 2, now: Self.t0)
        #expect(admitted(b, 2, at: Self.t0) == 2)
        b.giveBack(now: Self.t0)
        #expect(b.remaining(now: Self.t0) == 1)
        #expect(b.take(now: Self.t0) == .admitted)
        #expect(b.take(now: Self.t0) != .admitted)
        // A full bucket stays full: a refund without a take adds nothing.
        let full = TokenBucket(rate: 1, burst: 3, now: Self.t0)
        full.giveBack(now: Self.t0)
        full.giveBack(now: Self.t0)
        #expect(admitted(full, 10, at: Self.t0) == 3)
    }

    /// A client that keeps retrying while throttled recovers as soon as it slows down: refused
    /// requests take nothing.
    @Test func refusedRequestsConsumeNothing() {
        let b = TokenBucket(rate: 5, burst: 5, now: Self.t0)
        #expect(admitted(b, 5, at: Self.t0) == 5)
        for i in 0..<1_000 { _ = b.take(now: Self.t0 + UInt64(i) * 100_000) }  // 1000 retries within 0.1 s
        #expect(b.take(now: Self.t0 + Self.second / 5) == .admitted)
    }

    @Test func remainingAndFullIn() {
        let b = TokenBucket(rate: 4, burst: 8, now: Self.t0)
        #expect(b.remaining(now: Self.t0) == 8)
        _ = admitted(b, 3, at: Self.t0)
        #expect(b.remaining(now: Self.t0) == 5)
        #expect(b.fullIn(now: Self.t0) == 3 * Self.second / 4)
        #expect(b.remaining(now: Self.t0 + Self.second) == 8)
    }

    /// Four threads take from one bucket as fast as they can while the clock stands still, then
    /// after it moves: the total admitted is exactly what the bound allows.
    @Test func contentionNeverAdmitsMoreThanTheBound() async {
        let b = TokenBucket(rate: 1_000, burst: 500, now: Self.t0)
        let clock = TestClock(Self.t0)
        func hammer() async -> Int {
            await withTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var mine = 0
                        for _ in 0..<20_000 where b.take(now: clock.now) == .admitted { mine += 1 }
                        return mine
                    }
                }
                var total = 0
                for await n in group { total += n }
                return total
            }
        }
        #expect(await hammer() == 500)
        clock.set(Self.t0 + Self.second / 4)  // 250 more tokens
        #expect(await hammer() == 250)
    }
}

/// Nanoseconds that the test sets, read by every thread.
final class TestClock: Sendable {
    private let t: Atomic<UInt64>
    init(_ start: UInt64) { t = Atomic(start) }
    var now: UInt64 { t.load(ordering: .relaxed) }
    func set(_ v: UInt64) { t.store(v, ordering: .relaxed) }
}
