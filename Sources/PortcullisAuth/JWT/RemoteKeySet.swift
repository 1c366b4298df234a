public import Logging
public import NIOCore
public import PortcullisCore
public import PortcullisHTTPClient
import Synchronization

/// A key set fetched over HTTP(S) and kept fresh in the background (see `KeySetRefreshMachine`
/// for when). Readers take the current set under a short lock (only on a token-cache miss);
/// a failed fetch never replaces a good set. Timers hold it weakly: when the last config
/// snapshot using it goes away, refreshing stops.
public final class RemoteKeySet: Sendable {
    public enum Location: Sendable, Equatable, CustomStringConvertible {
        case jwks(HTTPURL)
        /// OIDC discovery: `{issuer}/.well-known/openid-configuration` names `jwks_uri`.
        case discovery(issuer: String)

        public var description: String {
            switch self {
            case .jwks(let u): return u.description
            case .discovery(let i): return "\(i) (OIDC discovery)"
            }
        }
    }

    /// What an admin or readiness endpoint can show.
    public struct Status: Sendable {
        public var ready: Bool
        public var keyIDs: [String]
        public var jwksURL: String?
        public var lastSuccess: Double?
        public var lastError: String?
    }

    struct State {
        var machine: KeySetRefreshMachine
        var keys: JWKSet? = nil
        var jwksURL: HTTPURL? = nil
        var waiters: [EventLoopPromise<JWKSet?>] = []
        /// Waiting for the first good set (`loaded(on:)`).
        var loadWaiters: [EventLoopPromise<Void>] = []
        var lastSuccess: Double? = nil
        var lastError: String? = nil
        /// Only the timer of the latest fetch refreshes; older ones (from fetches that unknown
        /// kids caused) find a newer generation and do nothing, so timers never pile up.
        var timerGeneration = 0
    }

    public let location: Location
    let client: HTTPClient
    /// Covers one fetch: connect, request and the whole response.
    let timeout: TimeAmount
    let group: any EventLoopGroup
    let clock: JWTClock
    let logger: Logger
    private let state: Mutex<State>

    public init(
        location: Location, client: HTTPClient, timeout: TimeAmount, group: any EventLoopGroup, clock: JWTClock,
        logger: Logger, machine: KeySetRefreshMachine
    ) {
        self.location = location
        self.client = client
        self.timeout = timeout
        self.group = group
        self.clock = clock
        self.logger = logger
        var s = State(machine: machine)
        if case .jwks(let u) = location { s.jwksURL = u }
        self.state = Mutex(s)
    }

    /// The last good key set, nil until the first fetch succeeds.
    public var current: JWKSet? { state.withLock { $0.keys } }

    /// Succeeds once a good key set is held: at once if one is, else when a fetch brings one.
    /// Readiness as an event, for callers that would otherwise poll `current`. Fails if the
    /// source goes away first.
    public func loaded(on loop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        let ready = state.withLock { s -> Bool in
            if s.keys != nil { return true }
            s.loadWaiters.append(promise)
            return false
        }
        if ready { promise.succeed() }
        return promise.futureResult
    }

    deinit {
        let left = state.withLock { s in
            let w = s.loadWaiters
            s.loadWaiters = []
            return w
        }
        for w in left { w.fail(JWKSError("key set source released before it loaded")) }
    }

    public var status: Status {
        state.withLock {
            Status(ready: $0.keys != nil, keyIDs: $0.keys?.keyIDs ?? [], jwksURL: $0.jwksURL?.description,
                lastSuccess: $0.lastSuccess, lastError: $0.lastError)
        }
    }

    /// Starts the first fetch; later ones schedule themselves.
    public func start() {
        _ = refresh(.startup, on: group.next())
    }

    /// Asks for a fresh set. Returns a future of the set after the fetch (the last good one if
    /// it failed), or nil when the machine refuses (cooldown): the caller answers at once.
    public func refresh(_ trigger: KeySetRefreshMachine.Trigger, on loop: any EventLoop) -> EventLoopFuture<JWKSet?>? {
        let now = clock.now()
        let promise = loop.makePromise(of: JWKSet?.self)
        let decision = state.withLock { s -> KeySetRefreshMachine.Decision in
            let d = s.machine.request(trigger, now: now)
            if d != .coolingDown { s.waiters.append(promise) }
            return d
        }
        switch decision {
        case .coolingDown:
            promise.succeed(nil)
            return nil
        case .join:
            return promise.futureResult
        case .fetch:
            fetch(on: loop)
            return promise.futureResult
        }
    }

    private func fetch(on loop: any EventLoop) {
        let target: EventLoopFuture<HTTPURL>
        if let u = state.withLock({ $0.jwksURL }) {
            target = loop.makeSucceededFuture(u)
        } else if case .discovery(let issuer) = location {
            target = discover(issuer, on: loop)
        } else {
            target = loop.makeFailedFuture(JWKSError("no key set URL"))
        }
        target.flatMap { url in
            self.get(url, on: loop).flatMapThrowing { response -> (JWKSet, Double?) in
                guard response.status == 200 else { throw JWKSError("\(url) answered \(response.status)") }
                do {
                    return (try JWKSet.parse(response.body), response.maxAge)
                } catch {
                    throw JWKSError("\(url): \(error)")
                }
            }
        }.whenComplete { result in
            // Strong on purpose: a fetch ends within its timeout, and its waiters' promises must
            // be completed even if the config that made this source was replaced meanwhile.
            self.finish(result, on: loop)
        }
    }

    private func finish(_ result: Result<(JWKSet, Double?), any Error>, on loop: any EventLoop) {
        let now = clock.now()
        let (delay, waiters, loadWaiters, keys, generation) = state.withLock {
            s -> (Double, [EventLoopPromise<JWKSet?>], [EventLoopPromise<Void>], JWKSet?, Int) in
            let delay: Double
            var loaded: [EventLoopPromise<Void>] = []
            switch result {
            case .success(let (set, maxAge)):
                s.keys = set
                s.lastSuccess = now
                s.lastError = nil
                delay = s.machine.succeeded(maxAge: maxAge)
                loaded = s.loadWaiters
                s.loadWaiters = []
            case .failure(let error):
                s.lastError = "\(error)"
                delay = s.machine.failed()
            }
            let w = s.waiters
            s.waiters = []
            s.timerGeneration += 1
            return (delay, w, loaded, s.keys, s.timerGeneration)
        }
        switch result {
        case .success(let (set, _)):
            logger.info("jwt key set loaded", metadata: [
                "source": "\(location)", "kids": "\(set.keyIDs.joined(separator: ","))",
                "skipped": "\(set.skipped.joined(separator: "; "))", "next_refresh_s": "\(Int(delay))",
            ])
        case .failure(let error):
            logger.warning("jwt key set fetch failed; keeping the last good set", metadata: [
                "source": "\(location)", "error": "\(error)", "retry_s": "\(Int(delay))", "have_keys": "\(keys != nil)",
            ])
        }
        for w in waiters { w.succeed(keys) }
        for w in loadWaiters { w.succeed() }
        loop.scheduleTask(in: .milliseconds(Int64(delay * 1000))) { [weak self] in
            guard let self, self.state.withLock({ $0.timerGeneration == generation }) else { return }
            _ = self.refresh(.scheduled, on: self.group.next())
        }
    }

    private func get(_ url: HTTPURL, on loop: any EventLoop) -> EventLoopFuture<HTTPClientResponse> {
        let request = HTTPClientRequest(url: url, headers: [("Accept", "application/json"), ("User-Agent", "portcullis")])
        return client.execute(request, timeout: timeout, on: loop)
    }

    private func discover(_ issuer: String, on loop: any EventLoop) -> EventLoopFuture<HTTPURL> {
        var base = issuer
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = HTTPURL(base + "/.well-known/openid-configuration") else {
            return loop.makeFailedFuture(JWKSError("issuer \(issuer) is not an http(s) URL"))
        }
        return get(url, on: loop).flatMapThrowing { response in
            guard response.status == 200 else { throw JWKSError("\(url) answered \(response.status)") }
            let doc: JSONValue
            do {
                doc = try JSONValue.parse(response.body)
            } catch {
                throw JWKSError("\(url) is not JSON: \(error)")
            }
            // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
            if let named = doc["issuer"]?.stringValue, named != issuer {
                throw JWKSError("\(url) names issuer \(named), not \(issuer)")
            }
            guard let uri = doc["jwks_uri"]?.stringValue, let jwks = HTTPURL(uri) else {
                throw JWKSError("\(url) has no usable jwks_uri")
            }
            // A plain-http key set is accepted only from a plain-http (local) issuer.
            if !jwks.isTLS && url.isTLS { throw JWKSError("jwks_uri \(uri) is not https") }
            self.state.withLock { $0.jwksURL = jwks }
            return jwks
        }
    }
}
