/// When a remote key set is fetched: the decisions of `RemoteKeySet` as a pure state machine
/// (events in, actions out), tested as tables with a hand-driven clock.
///
/// - One fetch at a time: a request while one runs joins it (single flight).
/// - A token naming an unknown kid may start a fetch, but not within `cooldown` of the previous
///   fetch of any kind, so a flood of made-up kids costs the issuer one request per cooldown.
/// - After a success the next scheduled fetch is Cache-Control max-age clamped to
///   [minInterval, maxInterval] (maxInterval without max-age); after a failure, retries back off
///   from `initialRetry` (1 s) doubling up to minInterval. The last good set is kept meanwhile (not our concern here).
public struct KeySetRefreshMachine: Sendable {
    public enum Trigger: Sendable, Equatable {
        case startup
        case scheduled
        case unknownKid
    }

    public enum Decision: Sendable, Equatable {
        /// Start a fetch now.
        case fetch
        /// A fetch is running: wait for its result.
        case join
        /// Too soon after the last fetch: answer without the key.
        case coolingDown
    }

    public let minInterval: Double
    public let maxInterval: Double
    public let cooldown: Double
    /// Delay before the first retry after a failure (doubling from there).
    public let initialRetry: Double

    public private(set) var fetching = false
    public private(set) var lastFetchStart: Double = -.infinity
    public private(set) var consecutiveFailures = 0

    public init(minInterval: Double, maxInterval: Double, cooldown: Double, initialRetry: Double = 1) {
        self.minInterval = minInterval
        self.maxInterval = max(minInterval, maxInterval)
        self.cooldown = cooldown
        self.initialRetry = max(initialRetry, 0.1)
    }

    public mutating func request(_ trigger: Trigger, now: Double) -> Decision {
        if fetching { return .join }
        if trigger == .unknownKid && now - lastFetchStart < cooldown { return .coolingDown }
        fetching = true
        lastFetchStart = now
        return .fetch
    }

    /// A fetch succeeded; returns the delay until the next scheduled fetch.
    public mutating func succeeded(maxAge: Double?) -> Double {
        fetching = false
        consecutiveFailures = 0
        return min(max(maxAge ?? maxInterval, minInterval), maxInterval)
    }

    /// A fetch failed; returns the delay until the retry.
    public mutating func failed() -> Double {
        fetching = false
        consecutiveFailures += 1
        let backoff = initialRetry * Double(1 << min(consecutiveFailures - 1, 20))
        return min(backoff, max(minInterval, initialRetry))
    }
}
