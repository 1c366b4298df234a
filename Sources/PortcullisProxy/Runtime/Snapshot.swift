import NIOCore
import NIOPosix
import PortcullisAuth
import PortcullisConfig
import PortcullisThrottle
import PortcullisCore
import PortcullisTLS

/// Everything a request needs from the config, compiled once per load and never mutated:
/// handed to every loop on reload; a request keeps the snapshot it started with.
final class Snapshot: Sendable {
    let config: PortcullisConfig
    let routers: [String: Router]
    let upstreams: [String: UpstreamGroupSpec]
    /// The same groups by index (routes carry the index).
    let groups: [UpstreamGroupSpec]
    let responder: GatewayResponder
    let limits: LimitsConfig
    let headerTimeout: TimeAmount
    let idleTimeout: TimeAmount
    let headLimits: HeadLimits
    let trustedProxies: [CIDR]
    let accessLog: Bool
    /// Requests are counted for `/metrics` (an admin listener is configured).
    let metrics: Bool
    /// Every compiled authorizer, for readiness (remote key sets load in the background).
    let authSteps: [AuthStep]
    /// TLS contexts of the listeners that terminate TLS, by listener name. Built with the snapshot,
    /// so a reload with new certificates serves new handshakes while open connections keep theirs.
    let tlsServers: [String: TLSServerContext]
    /// Listeners that forward verified client certificates upstream as X-Client-Cert-* headers.
    let forwardClientCert: Set<String>
    /// What admission phases may know of each listener (private, VPC, VPC endpoint), by name.
    let listenerFacts: [String: AuthRequest.ListenerFacts]

    /// Compiles a loaded config. Blocking (resolves upstream host names): call off the loops.
    /// - Parameter ticketKeys: session-ticket keys shared by every snapshot of a server, so that
    ///   clients resume TLS sessions across reloads.
    init(
        _ config: PortcullisConfig, environment: AuthEnvironment = .offline, ticketKeys: TLSSessionTicketKeys? = nil,
        usage: UsageState = UsageState(), routeSlots: RouteSlots = RouteSlots()
    ) throws(ConfigError) {
        self.config = config
        let steps = AuthCompiler.compileSteps(config.authorizers, environment: environment)
        authSteps = steps.sorted { $0.key < $1.key }.map(\.value)
        var issues: [ConfigIssue] = []
        var groups: [String: UpstreamGroupSpec] = [:]
        var servers: [String: TLSServerContext] = [:]
        var forward: Set<String> = []
        for (i, l) in config.listeners.enumerated() {
            guard let t = l.tls else { continue }
            do {
                servers[l.name] = try TLSServerContext(Self.serverConfiguration(t), sessionTicketKeys: t.sessionTickets ? ticketKeys : nil)
                if t.forwardClientCert { forward.insert(l.name) }
            } catch {
                issues.append(ConfigIssue(file: config.file, line: 0, column: 0, keyPath: "listeners[\(i)].tls", message: "\(error)"))
            }
        }
        tlsServers = servers
        forwardClientCert = forward
        listenerFacts = Dictionary(
            config.listeners.map { ($0.name, AuthRequest.ListenerFacts(name: $0.name, isPrivate: $0.isPrivate, vpc: $0.vpc, vpce: $0.vpce)) },
            uniquingKeysWith: { a, _ in a })
        for (index, (name, u)) in config.upstreams.sorted(by: { $0.key < $1.key }).enumerated() {
            var eps: [EndpointSpec] = []
            var clientTLS: TLSClientContext? = nil
            if u.endpoints.contains(where: { $0.scheme == "https" }) {
                do {
                    clientTLS = try TLSClientContext(Self.clientConfiguration(u.tls))
                } catch {
                    issues.append(ConfigIssue(file: config.file, line: 0, column: 0, keyPath: "upstreams.\(name).tls", message: "\(error)"))
                }
            }
            for e in u.endpoints {
                do {
                    let addr = try SocketAddress.makeAddressResolvingHost(e.host, port: e.port)
                    let defaultPort = e.scheme == "https" ? 443 : 80
                    let hostHeader = e.port == defaultPort ? e.host : "\(e.host):\(e.port)"
                    eps.append(
                        EndpointSpec(
                            key: e.description, address: addr, hostHeader: hostHeader,
                            tls: e.scheme == "https" ? clientTLS : nil, serverName: u.tls?.serverName ?? e.host))
                } catch {
                    issues.append(ConfigIssue(file: config.file, line: 0, column: 0, keyPath: "upstreams.\(name).endpoints",
                        message: "cannot resolve \(e.host): \(error)"))
                }
            }
            groups[name] = UpstreamGroupSpec(
                name: name, index: index, endpoints: eps, balance: u.balance, connectTimeout: TimeAmount(u.connectTimeout),
                timeout: TimeAmount(u.timeout), maxConnectionsPerLoop: u.maxConnectionsPerLoop, ejectBase: TimeAmount(u.ejectBase))
        }
        if !issues.isEmpty { throw ConfigError(issues) }
        upstreams = groups
        self.groups = groups.values.sorted { $0.index < $1.index }
        let indexes = groups.mapValues(\.index)
        var routers: [String: Router] = [:]
        let usageCompiler = UsageCompiler(config, state: usage)
        let apis = config.apis.map { api in
            CompiledAPI(
                api, steps: steps, upstreams: indexes, responder: GatewayResponder(global: config.gatewayResponses, api: api.gatewayResponses),
                usage: usageCompiler, slots: routeSlots, accessLogSample: config.accessLogSample)
        }
        for l in config.listeners {
            routers[l.name] = Router(apis: apis.filter { $0.listeners.isEmpty || $0.listeners.contains(l.name) })
        }
        self.routers = routers
        responder = GatewayResponder(global: config.gatewayResponses, api: [:])
        limits = config.limits
        headerTimeout = TimeAmount(config.limits.headerTimeout)
        idleTimeout = TimeAmount(config.limits.idleTimeout)
        headLimits = HeadLimits(maxHeaders: config.limits.maxHeaders, maxFieldLineBytes: config.limits.maxHeaderLineBytes)
        trustedProxies = config.trustedProxies
        accessLog = config.accessLog != .off
        metrics = config.admin != nil
    }

    func isTrusted(_ ip: IPAddress?) -> Bool {
        guard let ip, !trustedProxies.isEmpty else { return false }
        return trustedProxies.contains { $0.contains(ip) }
    }
}

struct EndpointSpec: Sendable {
    /// Stable name (`http://host:port`): pools and health survive reloads under it.
    let key: String
    let address: SocketAddress
    let hostHeader: String
    /// Client TLS for `https://` endpoints.
    let tls: TLSClientContext?
    let serverName: String
}

extension Snapshot {
    static func serverConfiguration(_ t: TLSListenerConfig) -> TLSServerConfiguration {
        let auth: TLSClientAuthentication
        switch t.clientAuth {
        case .none: auth = .none
        case .optional: auth = .optional
        case .require: auth = .require
        }
        return TLSServerConfiguration(
            certificates: t.certificates.map { TLSCertificateSource(certificateChainPEMPath: $0.cert, privateKeyPEMPath: $0.key) },
            minimumVersion: t.minVersion == .tls13 ? .tls13 : .tls12,
            cipherList: t.ciphers ?? TLSServerConfiguration.intermediateCipherList,
            groups: t.groups ?? TLSServerConfiguration.intermediateGroups,
            clientAuthentication: auth,
            clientCAPath: t.clientCA,
            sessionTickets: t.sessionTickets)
    }

    static func clientConfiguration(_ t: UpstreamTLSConfig?) -> TLSClientConfiguration {
        TLSClientConfiguration(
            trustRoots: t?.ca.map { .file($0) } ?? .system,
            certificate: t?.cert.flatMap { c in t?.key.map { TLSCertificateSource(certificateChainPEMPath: c, privateKeyPEMPath: $0) } },
            verifyHostname: t?.verify ?? true)
    }
}

struct UpstreamGroupSpec: Sendable {
    let name: String
    let index: Int
    let endpoints: [EndpointSpec]
    let balance: UpstreamConfig.Balance
    let connectTimeout: TimeAmount
    let timeout: TimeAmount
    let maxConnectionsPerLoop: Int
    let ejectBase: TimeAmount
}

extension TimeAmount {
    init(_ d: Duration) {
        let (s, atto) = d.components
        self = .nanoseconds(s * 1_000_000_000 + atto / 1_000_000_000)
    }
}
