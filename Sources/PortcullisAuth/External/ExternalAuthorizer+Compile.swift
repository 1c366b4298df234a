public import Logging
public import NIOCore
public import PortcullisConfig
public import PortcullisCore
import PortcullisHTTPClient
import PortcullisTLS
import Synchronization

extension ExternalAuthorizer {
    /// Builds the authorizer, or takes the running one from `registry` when its settings did not
    /// change: a reload keeps the cache of every unchanged authorizer and starts a changed one
    /// empty (its entries are flushed with the old instance).
    public static func compile(_ c: ExternalAuthorizerConfig, environment: AuthEnvironment) -> ExternalAuthorizer {
        let registry = environment.externalAuthorizers
        let fingerprint = c.description
        if let running = registry.running(c.name, fingerprint: fingerprint) { return running }
        var client: HTTPClient? = nil
        if environment.online, let group = environment.group, let url = HTTPURL(c.url) {
            do {
                let tls = url.isTLS ? try TLSClientContext(TLSClientConfiguration(trustRoots: c.caFile.map { .file($0) } ?? .system)) : nil
                let timeout = TimeAmount(c.timeout)
                client = HTTPClient(group: group, configuration: HTTPClientConfiguration(
                    connectTimeout: timeout, idleTimeout: .seconds(60), maxIdlePerKey: 64, maxResponseBytes: c.maxAnswerBytes, tls: tls))
            } catch {
                environment.logger.error("external authorizer: TLS client unusable; its routes answer 500", metadata: ["authorizer": "\(c.name)", "error": "\(error)"])
            }
        }
        let made = ExternalAuthorizer(config: c, client: client, clock: registry.clock, logger: environment.logger)
        return registry.keep(made, name: c.name, fingerprint: fingerprint)
    }
}

/// The running external authorizers of one server, by name and settings, held weakly: what a
/// reload compiles again finds its instance (and cache) here. Touched only at compile time.
/// The clock it hands out is the one tests drive.
public final class ExternalAuthorizerRegistry: Sendable {
    private struct Weak {
        weak var value: ExternalAuthorizer?
        let fingerprint: String
    }
    /// Per name, the live instances by settings, most recently compiled last. More than one is
    /// alive while an old snapshot finishes its requests, or after a reload failed elsewhere (its
    /// instance dies with it, and the running one stays findable for the next reload).
    private let entries = Mutex<[String: [Weak]]>([:])
    public let clock: JWTClock

    public init(clock: JWTClock = .system) {
        self.clock = clock
    }

    func running(_ name: String, fingerprint: String) -> ExternalAuthorizer? {
        entries.withLock { e in
            guard var list = e[name], let i = list.lastIndex(where: { $0.fingerprint == fingerprint && $0.value != nil }) else { return nil }
            let found = list.remove(at: i)
            list.append(found)
            e[name] = list
            return found.value
        }
    }

    func keep(_ a: ExternalAuthorizer, name: String, fingerprint: String) -> ExternalAuthorizer {
        entries.withLock { e in
            var list = (e[name] ?? []).filter { $0.value != nil }
            if let existing = list.last(where: { $0.fingerprint == fingerprint })?.value { return existing }
            list.append(Weak(value: a, fingerprint: fingerprint))
            e[name] = list
            return a
        }
    }

    /// The authorizer most recently compiled under `name` that is still in use (tests, the
    /// metrics endpoint).
    public func authorizer(named name: String) -> ExternalAuthorizer? {
        entries.withLock { $0[name]?.last(where: { $0.value != nil })?.value }
    }

    /// Empties the result cache of the running authorizer `name`, or of every one (nil); the
    /// names flushed (the admin listener's `POST /cache/flush`).
    public func flush(_ name: String? = nil) -> [String] {
        let running = entries.withLock { e in e.compactMap { n, list in list.last(where: { $0.value != nil })?.value.map { (n, $0) } } }
        var done: [String] = []
        for (n, a) in running where name == nil || n == name {
            guard let cache = a.cache else { continue }
            cache.flush()
            done.append(n)
        }
        return done.sorted()
    }

    /// The cache counters of every running authorizer with a cache, by name (the metrics endpoint).
    public func counters() -> [String: AuthorizerCacheCounters] {
        let running = entries.withLock { e in e.compactMap { name, list in list.last(where: { $0.value != nil })?.value.map { (name, $0) } } }
        var out: [String: AuthorizerCacheCounters] = [:]
        for (name, a) in running { if let c = a.cache?.counters { out[name] = c } }
        return out
    }
}
