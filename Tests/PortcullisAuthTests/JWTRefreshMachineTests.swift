import Testing

@testable import PortcullisAuth

/// The key-set refresh decisions as event → expected-action tables, on a hand-driven clock.
@Suite("JWT: key set refresh state machine")
struct JWTRefreshMachineTests {
    typealias M = KeySetRefreshMachine

    @Test func singleFlightAndCooldown() {
        var m = M(minInterval: 300, maxInterval: 3600, cooldown: 30)
        let table: [(String, M.Trigger, Double, M.Decision)] = [
            ("startup fetches", .startup, 0, .fetch),
            ("unknown kid joins the running fetch", .unknownKid, 1, .join),
            ("scheduled joins too", .scheduled, 2, .join),
        ]
        for (what, trigger, now, expected) in table { #expect(m.request(trigger, now: now) == expected, "\(what)") }
        #expect(m.succeeded(maxAge: nil) == 3600)
        let after: [(String, M.Trigger, Double, M.Decision)] = [
            ("unknown kid within the cooldown of the last fetch", .unknownKid, 10, .coolingDown),
            ("still cooling down", .unknownKid, 29.9, .coolingDown),
            ("cooldown over", .unknownKid, 30, .fetch),
            ("flood of bogus kids joins", .unknownKid, 30.5, .join),
        ]
        for (what, trigger, now, expected) in after { #expect(m.request(trigger, now: now) == expected, "\(what)") }
        _ = m.failed()
        #expect(m.request(.unknownKid, now: 31) == .coolingDown)
        // Scheduled refreshes are not subject to the cooldown.
        #expect(m.request(.scheduled, now: 31) == .fetch)
    }

    @Test func cacheControlWithinBounds() {
        var m = M(minInterval: 300, maxInterval: 3600, cooldown: 30)
        let cases: [(Double?, Double)] = [(nil, 3600), (60, 300), (900, 900), (86400, 3600), (0, 300)]
        for (maxAge, expected) in cases {
            _ = m.request(.scheduled, now: 0)
            #expect(m.succeeded(maxAge: maxAge) == expected, "max-age \(String(describing: maxAge))")
        }
    }

    @Test func failuresBackOffUpToTheMinimumInterval() {
        var m = M(minInterval: 10, maxInterval: 3600, cooldown: 30)
        var delays: [Double] = []
        for _ in 0..<6 {
            _ = m.request(.scheduled, now: 0)
            delays.append(m.failed())
        }
        #expect(delays == [1, 2, 4, 8, 10, 10])
        _ = m.request(.scheduled, now: 0)
        #expect(m.succeeded(maxAge: 600) == 600)
        #expect(m.consecutiveFailures == 0)
        var slow = M(minInterval: 300, maxInterval: 3600, cooldown: 30, initialRetry: 5)
        var slowDelays: [Double] = []
        for _ in 0..<8 {
            _ = slow.request(.scheduled, now: 0)
            slowDelays.append(slow.failed())
        }
        #expect(slowDelays == [5, 10, 20, 40, 80, 160, 300, 300])
    }
}
