#if canImport(Glibc)
import Glibc
#endif
public import Logging
import NIOConcurrencyHelpers
import PortcullisThrottle
public import NIOCore
public import NIOPosix
public import PortcullisConfig
import PortcullisCore
public import PortcullisAuth
import PortcullisTLS

/// The running gateway: one event loop per worker, per-loop listeners, per-loop state.
/// Its methods are the control plane (start, reload, shutdown) and run off the loops.
public final class PortcullisServer: Sendable {
    public let group: MultiThreadedEventLoopGroup
    private let logger: Logger
    private let contexts: [LoopContextRef]
    private let accessLogSink: AccessLogSink?
    private let state: NIOLockedValueBox<State>
    /// Outlives every snapshot: TLS sessions resume across reloads, keys rotate in process.
    private let ticketKeys = TLSSessionTicketKeys()
    /// External authorizers and their result caches, kept across reloads when unchanged.
    public let externalAuthorizers: ExternalAuthorizerRegistry
    /// Token buckets and quota counters, kept across reloads, and their store under `state_dir`.
    let quotas: QuotaPersistence
    var usage: UsageState { quotas.usage }
    /// Upstream endpoint health, one record per endpoint key shared by every loop's pools and kept
    /// across reloads: an endpoint that comes back is readmitted on all loops by one good connect.
    let endpointHealth = EndpointHealthStore()

    /// Series numbers of the routes for `/metrics`, stable across reloads.
    let routeSlots = RouteSlots()
    /// Reloads by outcome, and the running config's generation (1 at start).
    private let reloads = NIOLockedValueBox((ok: 0, failed: 0, generation: 1))

    private struct State {
        var config: PortcullisConfig
        var admin: (any Channel)?
        /// Bound server channels by listener key (`name|host:port`), one per loop.
        var listeners: [String: [any Channel]] = [:]
        var bound: [String: SocketAddress] = [:]
        var snapshot: Snapshot
    }

    /// Compiles the config and prepares the loops; nothing listens until `start()`.
    public init(config: PortcullisConfig, logger: Logger, externalAuthorizers: ExternalAuthorizerRegistry = ExternalAuthorizerRegistry()) throws {
        self.externalAuthorizers = externalAuthorizers
        let workers = config.workers ?? System.coreCount
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: workers)
        let quotas = QuotaPersistence(config: config, logger: logger)
        self.quotas = quotas
        let snapshot = try Snapshot(
            config, environment: AuthEnvironment(group: group, logger: logger, online: true, externalAuthorizers: externalAuthorizers), ticketKeys: ticketKeys, usage: quotas.usage,
            routeSlots: routeSlots)
        self.logger = logger
        switch config.accessLog {
        case .off: accessLogSink = nil
        case .stdout: accessLogSink = try AccessLogSink(path: nil)
        case .file(let p): accessLogSink = try AccessLogSink(path: p)
        }
        let perLoopMax = max(1, config.limits.maxConnections / workers)
        let sink = accessLogSink
        let health = endpointHealth
        var refs: [LoopContextRef] = []
        for (i, loop) in group.makeIterator().enumerated() {
            let ref = try loop.submit {
                let ctx = LoopContext(
                    loop: loop, index: i, snapshot: snapshot, accessLog: sink, maxConnections: perLoopMax,
                    endpointHealth: health, logger: logger, batchesUpstreamFlushes: true)
                // A burst spread over many loops still asks for a trim.
                ctx.trimDrop = max(64, MemoryTrim.connectionsDrop / workers)
                ctx.start()
                return LoopContextRef(ctx, eventLoop: loop)
            }.wait()
            refs.append(ref)
        }
        contexts = refs
        state = NIOLockedValueBox(State(config: config, snapshot: snapshot))
    }

    /// True once every authorizer can decide (remote key sets loaded at least once).
    public var isReady: Bool { state.withLockedValue { $0.snapshot }.authSteps.allSatisfy(\.isReady) }

    /// Waits up to `timeout` for `isReady`; false if it did not happen.
    public func waitUntilReady(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isReady {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Addresses the listeners are bound to, by listener name (port 0 resolved).
    public var boundAddresses: [String: SocketAddress] { state.withLockedValue { $0.bound } }

    public func start() throws {
        let config = state.withLockedValue { $0.config }
        for l in config.listeners { try bind(l) }
        if let admin = config.admin {
            do {
                let channel = try AdminServer.bind(admin, server: self, group: group.next())
                state.withLockedValue {
                    $0.admin = channel
                    $0.bound["admin"] = channel.localAddress
                }
                logger.info("admin listening", metadata: ["address": "\(admin.host):\(channel.localAddress?.port ?? admin.port)"])
            } catch {
                throw ListenError(listener: "admin", address: "\(admin.host):\(admin.port)", underlying: error)
            }
        }
        quotas.start(on: group.next())
    }

    /// A reload that moves, adds or removes the admin listener: the old socket closes first (the
    /// new address may overlap it, as 0.0.0.0 and 127.0.0.1 on one port do), then the new one
    /// binds; if it cannot, the old one is bound again and the reload fails. The token needs no
    /// rebinding: each admin request reads the running config's.
    private func moveAdmin(from old: AdminConfig?, to new: AdminConfig?) throws {
        if let channel = state.withLockedValue({ s -> (any Channel)? in
            defer { s.admin = nil; s.bound["admin"] = nil }
            return s.admin
        }) {
            try? channel.close().wait()
        }
        func bindAdmin(_ a: AdminConfig) throws {
            let channel = try AdminServer.bind(a, server: self, group: group.next())
            state.withLockedValue {
                $0.admin = channel
                $0.bound["admin"] = channel.localAddress
            }
            logger.info("admin listening", metadata: ["address": "\(a.host):\(channel.localAddress?.port ?? a.port)"])
        }
        guard let new else { return logger.info("admin listener closed") }
        do {
            try bindAdmin(new)
        } catch {
            if let old { try? bindAdmin(old) }
            throw ListenError(listener: "admin", address: "\(new.host):\(new.port)", underlying: error)
        }
    }

    /// The admin token of the running config, if it sets one.
    var adminToken: String? { state.withLockedValue { $0.config.admin?.token } }
    /// The running config's generation: 1 at start, one more per successful reload.
    var generation: Int { reloads.withLockedValue { $0.generation } }
    /// The running config (the last one that loaded).
    var currentConfig: PortcullisConfig { state.withLockedValue { $0.config } }

    /// Reopens the access-log file by name (SIGUSR1, after logrotate renamed it). Lines the loops
    /// still hold go to the new file with their next flush.
    public func reopenLogs() {
        let logger = self.logger
        accessLogSink?.reopen { error in
            if let error { logger.error("access log not reopened; still writing to the old file", metadata: ["error": "\(error)"]) }
            else { logger.notice("access log reopened") }
        }
    }

    /// A reload that did not happen (the file failed validation before reaching `reload`).
    public func noteReloadFailed() { reloads.withLockedValue { $0.failed += 1 } }

    /// Why the gateway is not ready; empty when it is (`/readyz`).
    func readinessProblems() -> [String] {
        let (config, bound, snapshot) = state.withLockedValue { ($0.config, $0.bound, $0.snapshot) }
        var out: [String] = []
        for l in config.listeners where bound[l.name] == nil { out.append("listener \(l.name) is not bound") }
        for step in snapshot.authSteps where !step.isReady { out.append("authorizer \(step.name): key set not loaded yet") }
        if !usage.storeHealthy { out.append("quota store not writable (state_dir)") }
        return out
    }

    /// The API keys of the running config as the admin listener's `GET /keys` shows them: id,
    /// name, description, enabled, usage plans. Never a value or its hash.
    func keysJSON() -> String {
        let keys = state.withLockedValue { $0.config.apiKeys }
        let items = keys.sorted { $0.id < $1.id }.map { k in
            "{\"id\":\(JSONString.quoted(k.id)),\"name\":\(JSONString.quoted(k.name)),\"description\":\(JSONString.quoted(k.description)),"
                + "\"enabled\":\(k.enabled),\"usagePlanIds\":[\(k.usagePlans.map { JSONString.quoted($0) }.joined(separator: ","))]}"
        }
        return "{\"items\":[\(items.joined(separator: ","))]}\n"
    }

    /// Requests whose admission phases are running or waiting now (read on each loop).
    func requestsAdmitting() async -> Int {
        var n = 0
        for ref in contexts {
            n += (try? await ref.eventLoop.submit { ref.value.admittingCount }.get()) ?? 0
        }
        return n
    }

    /// What one loop contributes to a scrape, read on that loop.
    private struct LoopSample: Sendable {
        let requests: LoopMetrics
        let stats: LoopStats
        let open: Int
        let admitting: Int
        let pools: [PoolSample]
    }

    /// Every loop's metrics summed, with the server's own, as Prometheus text (`/metrics`),
    /// completed on `loop`. Each loop is read on its own thread and the parts are joined with
    /// futures, not in a Swift concurrency task: a scrape never waits for a thread of the
    /// cooperative pool, which blocking callers in the same process can hold (the test suite's
    /// synchronous clients did, and a scrape then went unanswered for 10 s).
    public func metricsText(on loop: any EventLoop) -> EventLoopFuture<String> {
        let parts = contexts.map { ref in
            ref.eventLoop.submit {
                let c = ref.value
                return LoopSample(
                    requests: c.metrics, stats: c.stats, open: c.connections.count,
                    admitting: c.admittingCount, pools: c.pools.values.map(PoolSample.init))
            }
        }
        return EventLoopFuture.whenAllComplete(parts, on: loop).map { results in
            var sample = MetricsSample(routes: self.routeSlots.names)
            sample.authorizerNames = self.routeSlots.authorizerNames
            for case .success(let part) in results {
                sample.requests = sample.requests + part.requests
                sample.stats = sample.stats + part.stats
                sample.activeConnections += part.open
                sample.admitting += part.admitting
                for p in part.pools { sample.pools[p.key, default: PoolSample(upstream: p.upstream, endpoint: p.endpoint)].add(p) }
            }
            sample.authorizers = self.externalAuthorizers.counters()
            (sample.reloadsOK, sample.reloadsFailed, sample.generation) = self.reloads.withLockedValue { ($0.ok, $0.failed, $0.generation) }
            sample.ready = self.readinessProblems().isEmpty
            return MetricsText.render(sample)
        }
    }

    static func key(_ l: ListenerConfig) -> String { "\(l.name)|\(l.host):\(l.port)|\(l.tls != nil)" }

    /// Binds a listener on every loop. Each loop gets its own socket (SO_REUSEPORT): the kernel
    /// spreads new connections across loops, and a connection never changes thread. A shared
    /// acceptor would hand every accepted socket to another loop; with one socket per loop there
    /// is no such hop, and at one worker (the benchmark) both are the same.
    private func bind(_ l: ListenerConfig) throws {
        let runtime = ListenerRuntime(name: l.name, isTLS: l.tls != nil)
        var channels: [any Channel] = []
        var port = l.port
        do {
            for ref in contexts {
                let loop = ref.eventLoop
                let channel = try ServerBootstrap(group: loop, childGroup: loop)
                    .serverChannelOption(.backlog, value: 1024)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .serverChannelOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
                    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                    .childChannelOption(.maxMessagesPerRead, value: 4)
                    .childChannelOption(.recvAllocator, value: ClientReadSizing())
                    // A client may send its request and shut down its side; it still gets the answer.
                    .childChannelOption(.allowRemoteHalfClosure, value: true)
                    .childChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let ctx = ref.value
                            guard !ctx.draining, ctx.connections.count < ctx.maxConnections else {
                                throw ConnectionRefused()
                            }
                            if runtime.isTLS {
                                // The loop's current snapshot has this listener's certificates: a
                                // reload changes them for new handshakes only.
                                guard let tls = ctx.snapshot.tlsServers[runtime.name] else { throw ConnectionRefused() }
                                try channel.pipeline.syncOperations.addHandler(TLSServerHandler(context: tls))
                            }
                            try channel.pipeline.syncOperations.addHandler(ProxyConnection(loop: ctx, listener: runtime))
                        }
                    }
                    .bind(host: l.host, port: port).wait()
                if port == 0 { port = channel.localAddress?.port ?? 0 }
                channels.append(channel)
            }
        } catch {
            for c in channels { c.close(promise: nil) }
            throw ListenError(listener: l.name, address: "\(l.host):\(l.port)", underlying: error)
        }
        let addr = channels.first?.localAddress
        state.withLockedValue {
            $0.listeners[Self.key(l)] = channels
            $0.bound[l.name] = addr
        }
        logger.info("listening", metadata: ["listener": "\(l.name)", "address": "\(l.host):\(port)", "loops": "\(channels.count)"])
    }

    /// Applies a new config: compile off the loops (throws and changes nothing on error), hand the
    /// snapshot to every loop, then bind added listeners and close removed ones.
    public func reload(_ config: PortcullisConfig) throws {
        let snapshot: Snapshot
        do {
            snapshot = try Snapshot(
                config, environment: AuthEnvironment(group: group, logger: logger, online: true, externalAuthorizers: externalAuthorizers), ticketKeys: ticketKeys, usage: usage,
                routeSlots: routeSlots)
        } catch {
            noteReloadFailed()
            throw error
        }
        let old = state.withLockedValue { $0.config }
        if old.admin?.host != config.admin?.host || old.admin?.port != config.admin?.port {
            do {
                try moveAdmin(from: old.admin, to: config.admin)
            } catch {
                noteReloadFailed()
                throw error
            }
        }
        let oldKeys = Set(old.listeners.map(Self.key))
        let newKeys = Set(config.listeners.map(Self.key))
        var added: [ListenerConfig] = []
        for l in config.listeners where !oldKeys.contains(Self.key(l)) {
            do {
                try bind(l)
            } catch {
                noteReloadFailed()
                throw error
            }
            added.append(l)
        }
        for ref in contexts {
            ref.eventLoop.execute { ref.value.snapshot = snapshot }
        }
        let removed: [any Channel] = state.withLockedValue { s in
            var out: [any Channel] = []
            for k in oldKeys.subtracting(newKeys) {
                out += s.listeners.removeValue(forKey: k) ?? []
                if let name = k.split(separator: "|").first, !config.listeners.contains(where: { $0.name == name }) {
                    s.bound[String(name)] = nil
                }
            }
            s.config = config
            s.snapshot = snapshot
            return out
        }
        for c in removed { try? c.close().wait() }
        reloads.withLockedValue { $0.ok += 1; $0.generation += 1 }
        logger.info("config reloaded", metadata: [
            "file": "\(config.file)", "generation": "\(reloads.withLockedValue { $0.generation })",
            "changes": "\(ConfigDiff.summary(from: old, to: config))",
        ])
    }

    /// Counters summed over all loops (each loop's are read on that loop).
    public func stats() async -> LoopStats {
        var total = LoopStats()
        for s in await loopStats() { total = total + s }
        return total
    }

    /// Each loop's counters, by loop index (read on that loop).
    func loopStats() async -> [LoopStats] {
        var all: [LoopStats] = []
        for ref in contexts {
            all.append((try? await ref.eventLoop.submit({ ref.value.stats }).get()) ?? LoopStats())
        }
        return all
    }

    /// Stops accepting, lets requests in flight finish for up to `grace`, then closes what is left.
    public func shutdown(grace: Duration) async {
        let channels = state.withLockedValue { s -> [any Channel] in
            let all = s.listeners.values.flatMap { $0 } + (s.admin.map { [$0] } ?? [])
            s.listeners = [:]
            s.admin = nil
            return all
        }
        // Mark the loops draining first, so responses already on their way say Connection: close.
        for ref in contexts {
            ref.eventLoop.execute {
                let ctx = ref.value
                ctx.draining = true
                for c in ctx.connections.values { c.closeIfIdle() }
            }
        }
        for c in channels { try? await c.close().get() }
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            var open = 0
            for ref in contexts {
                open += (try? await ref.eventLoop.submit { ref.value.connections.count }.get()) ?? 0
            }
            if open == 0 { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        for ref in contexts {
            try? await ref.eventLoop.submit {
                let ctx = ref.value
                for c in ctx.connections.values { c.context?.close(promise: nil) }
                for p in ctx.pools.values { p.closeIdle() }
                ctx.stop()
            }.get()
        }
        accessLogSink?.drain()
        quotas.stop()
        try? await group.shutdownGracefully()
    }
}

struct ConnectionRefused: Error {}

public struct ListenError: Error, CustomStringConvertible {
    public let listener: String
    public let address: String
    public let underlying: any Error
    public var description: String { "listener \(listener): cannot listen on \(address): \(underlying)" }
}
