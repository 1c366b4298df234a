#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Wall-clock seconds since 1970, as `exp`, `nbf` and `iat` count them. Injected so that tests
/// drive expiry, cache lifetimes and refresh cooldowns without sleeping.
public struct JWTClock: Sendable {
    public let now: @Sendable () -> Double

    public init(now: @escaping @Sendable () -> Double) {
        self.now = now
    }

    /// The kernel's coarse wall clock: it advances once a tick (1 to 10 ms, by the kernel's HZ)
    /// and reads without touching the clock source, a few nanoseconds where `CLOCK_REALTIME`
    /// took 25-30 on this VM, once per cached JWT or external-authorizer answer. What it times
    /// counts seconds (expiry, TTLs, skew, quota periods); the one millisecond figure, an
    /// authorizer event's `requestTimeEpoch`, is then within a tick.
    public static let system = JWTClock {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A clock the test moves by hand.
public final class ManualClock: Sendable {
    private let time: Mutex<Double>

    public init(_ start: Double) { time = Mutex(start) }

    public var now: Double { time.withLock { $0 } }
    public func advance(by seconds: Double) { time.withLock { $0 += seconds } }
    public func set(_ t: Double) { time.withLock { $0 = t } }

    public var clock: JWTClock { JWTClock { [self] in self.now } }
}
