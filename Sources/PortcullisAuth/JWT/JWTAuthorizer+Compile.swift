import Logging
public import NIOCore
public import PortcullisCore
public import PortcullisConfig
import PortcullisHTTPClient
import PortcullisTLS
import Synchronization

extension JWTAuthorizer {
    /// Builds the authorizer from its loaded config: keys become OpenSSL objects now, a remote
    /// key set starts fetching (when `environment` is online). Problems with key material do not
    /// stop the gateway: they are logged and the authorizer answers 500 (AUTHORIZER_FAILURE).
    public static func compile(
        _ c: JWTAuthorizerConfig, environment: AuthEnvironment, clock: JWTClock = .system
    ) -> JWTAuthorizer {
        let logger = environment.logger
        let algorithms = Set(c.algorithms.compactMap(JWTAlgorithm.init(rawValue:)))
        let keys: Keys
        switch buildKeys(c, algorithms: algorithms, environment: environment, clock: clock) {
        case .success(let k): keys = k
        case .failure(let e):
            logger.error("jwt authorizer keys unusable; its routes answer 500", metadata: ["authorizer": "\(c.name)", "error": "\(e.message)"])
            keys = .unusable(e.message)
        }
        var rules: [ClaimRule] = []
        for r in c.claims {
            if let rule = try? ClaimRule(r) { rules.append(rule) }
        }
        let policy = ClaimPolicy(
            issuer: c.issuer, audiences: c.audiences, tokenUse: c.tokenUse, requireExp: c.requireExp,
            leeway: Double(c.leeway.components.seconds) + Double(c.leeway.components.attoseconds) / 1e18)
        let ttl = Double(c.cacheTTL.components.seconds)
        return JWTAuthorizer(
            name: c.name, keys: keys, identitySource: c.identitySource,
            verifier: JWTVerifier(algorithms: algorithms, policy: policy), cognito: c.cognito,
            principalClaim: c.principalClaim, forwardClaims: c.forwardClaims, claimRules: rules, cacheTTL: ttl,
            caches: ttl > 0 ? TokenCaches(group: environment.group, maxEntries: c.cacheMaxEntries) : nil,
            clock: clock, logger: logger)
    }

    /// Why the configured static key material cannot be used, or nil (remote sources: nil).
    public static func keyProblem(_ c: JWTAuthorizerConfig) -> String? {
        switch c.keySource {
        case .discovery, .jwksURL: return nil
        default: break
        }
        let algorithms = Set(c.algorithms.compactMap(JWTAlgorithm.init(rawValue:)))
        let offline = AuthEnvironment(group: nil, logger: Logger(label: "portcullis.check"), online: false)
        if case .failure(let e) = buildKeys(c, algorithms: algorithms, environment: offline, clock: .system) { return e.message }
        return nil
    }

    static func buildKeys(
        _ c: JWTAuthorizerConfig, algorithms: Set<JWTAlgorithm>, environment: AuthEnvironment, clock: JWTClock
    ) -> Result<Keys, JWKSError> {
        switch c.keySource {
        case .secret(let bytes):
            return .success(.fixed(JWKSet(keys: [VerificationKey.secret(bytes, algorithms: Array(algorithms))])))
        case .publicKeyPEM(let path, let pem):
            do {
                let key = try PublicKey(pem: pem)
                return .success(.fixed(JWKSet(keys: [VerificationKey(keyID: nil, algorithm: nil, material: .publicKey(key))])))
            } catch {
                return .failure(JWKSError("\(path): \(error)"))
            }
        case .jwksDocument(let path, let contents):
            do {
                let set = try JWKSet.parse(contents)
                if !set.skipped.isEmpty {
                    environment.logger.warning("jwt key set: keys skipped", metadata: ["file": "\(path)", "skipped": "\(set.skipped.joined(separator: "; "))"])
                }
                return .success(.fixed(set))
            } catch {
                return .failure(JWKSError("\(path): \(error)"))
            }
        case .jwksURL(let s):
            guard let url = HTTPURL(s) else { return .failure(JWKSError("invalid key set URL \(s)")) }
            return remote(.jwks(url), c, environment, clock)
        case .discovery(let issuer):
            // Cognito publishes the pool's key set at a fixed place: skip the discovery round trip.
            if c.cognito, let url = HTTPURL(trimmed(issuer) + "/.well-known/jwks.json") {
                return remote(.jwks(url), c, environment, clock)
            }
            return remote(.discovery(issuer: issuer), c, environment, clock)
        }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func trimmed(_ s: String) -> String {
        var s = s
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }

    static func remote(
        _ location: RemoteKeySet.Location, _ c: JWTAuthorizerConfig, _ environment: AuthEnvironment, _ clock: JWTClock
    ) -> Result<Keys, JWKSError> {
        guard environment.online, let group = environment.group else {
            // `portcullis check` and config validation compile offline: nothing to report.
            return .success(.unusable("key set from \(location) is not fetched offline"))
        }
        let r = c.refresh
        let registryKey = "\(location)|\(r.caFile ?? "")|\(r.minInterval)|\(r.maxInterval)|\(r.cooldown)|\(r.timeout)|\(r.retry)"
        do {
            let source = try RemoteKeySetRegistry.shared.source(for: registryKey) {
                let needsTLS: Bool
                switch location {
                case .jwks(let u): needsTLS = u.isTLS
                case .discovery(let issuer): needsTLS = issuer.hasPrefix("https://")
                }
                let tls = needsTLS ? try TLSClientContext(TLSClientConfiguration(trustRoots: r.caFile.map { .file($0) } ?? .system)) : nil
                let timeout = TimeAmount.nanoseconds(r.timeout.components.seconds * 1_000_000_000 + r.timeout.components.attoseconds / 1_000_000_000)
                let machine = KeySetRefreshMachine(
                    minInterval: Double(r.minInterval.components.seconds), maxInterval: Double(r.maxInterval.components.seconds),
                    cooldown: Double(r.cooldown.components.seconds), initialRetry: seconds(r.retry))
                // Fetches are minutes apart: one idle connection per loop is plenty, and it is kept
                // only briefly (a refresh after an unknown kid may follow a scheduled one closely).
                let client = HTTPClient(group: group, configuration: HTTPClientConfiguration(
                    connectTimeout: timeout, idleTimeout: .seconds(30), maxIdlePerKey: 1,
                    maxResponseBytes: JWKSet.maxDocumentBytes, tls: tls))
                let source = RemoteKeySet(
                    location: location, client: client, timeout: timeout, group: group, clock: clock,
                    logger: environment.logger, machine: machine)
                source.start()
                return source
            }
            return .success(.remote(source))
        } catch {
            return .failure(JWKSError("TLS client for \(location): \(error)"))
        }
    }
}

/// Remote key sets by source and settings, held weakly: a reload that keeps an authorizer's key
/// source gets the running instance (its keys and refresh timers) instead of fetching anew.
/// Touched only at compile time.
final class RemoteKeySetRegistry: Sendable {
    static let shared = RemoteKeySetRegistry()

    private struct Weak { weak var value: RemoteKeySet? }
    private let entries = Mutex<[String: Weak]>([:])

    func source(for key: String, make: () throws -> RemoteKeySet) throws -> RemoteKeySet {
        if let existing = entries.withLock({ $0[key]?.value }) { return existing }
        let made = try make()
        return entries.withLock { e in
            if let existing = e[key]?.value { return existing }
            e = e.filter { $0.value.value != nil }
            e[key] = Weak(value: made)
            return made
        }
    }
}
