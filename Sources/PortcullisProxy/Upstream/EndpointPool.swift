import NIOCore
import NIOPosix
import PortcullisCore
import PortcullisTLS

/// Keep-alive connections to one upstream endpoint, owned by one event loop: acquiring one
/// never crosses threads. Connect results feed the endpoint's passive health, which is shared with
/// the other loops' pools for the same endpoint (`EndpointHealth`): a refused connection ejects the
/// endpoint for `ejectBase`, doubling per consecutive failure up to 30 s; a successful one readmits it.
final class EndpointPool {
    unowned let loop: LoopContext
    private(set) var spec: EndpointSpec
    private(set) var group: UpstreamGroupSpec
    /// Shared by every loop's pool for this endpoint key.
    let health: EndpointHealth
    var idle: [UpstreamConnection] = []
    /// Connections open or opening.
    var open = 0
    /// Requests using a connection of this pool now.
    var outstanding = 0
    /// Requests waiting for a connection because the per-loop cap is reached.
    var waiters: [Waiter] = []
    /// Connections opened and attempts that failed, for `/metrics`.
    private(set) var connects = 0
    private(set) var connectFailures = 0

    /// A request waiting for a connection; the generation tells a late answer from a current one.
    struct Waiter {
        let connection: ProxyConnection
        let generation: Int
        func deliver(_ result: Result<UpstreamConnection, any Error>) {
            connection.upstreamConnected(result, generation: generation)
        }
    }

    init(loop: LoopContext, spec: EndpointSpec, group: UpstreamGroupSpec, health: EndpointHealth) {
        self.loop = loop
        self.spec = spec
        self.group = group
        self.health = health
    }

    func update(spec: EndpointSpec, group: UpstreamGroupSpec) {
        self.spec = spec
        self.group = group
    }

    func isHealthy(_ now: NIODeadline) -> Bool { health.isHealthy(now) }

    enum Acquired {
        case ready(UpstreamConnection)
        /// `waiter.upstreamConnected(_:)` is called later on this loop.
        case pending
    }

    func acquire(for waiter: Waiter) -> Acquired {
        while let c = idle.popLast() {
            if c.isUsable {
                outstanding += 1
                return .ready(c)
            }
        }
        if open >= group.maxConnectionsPerLoop {
            waiters.append(waiter)
            return .pending
        }
        connect(for: waiter)
        return .pending
    }

    private func connect(for waiter: Waiter) {
        open += 1
        outstanding += 1
        let tls = spec.tls
        let serverName = spec.serverName
        let bootstrap = ClientBootstrap(group: loop.loop)
            .connectTimeout(group.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(TLSClientHandler(context: tls, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(UpstreamConnection())
                }
            }
        bootstrap.connect(to: spec.address).whenComplete { [self] result in
            switch result {
            case .success(let channel):
                connects += 1
                health.connectSucceeded()
                do {
                    let handler = try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self)
                    handler.pool = self
                    waiter.deliver(.success(handler))
                } catch {
                    channel.close(promise: nil)
                    connectionClosed(wasIdle: false)
                    outstanding -= 1
                    waiter.deliver(.failure(error))
                }
            case .failure(let error):
                connectFailures += 1
                open -= 1
                outstanding -= 1
                health.connectFailed(now: .now(), base: group.ejectBase)
                waiter.deliver(.failure(error))
            }
        }
    }

    /// A request is done with a connection. Reusable ones go back to the pool or to a waiter.
    func release(_ c: UpstreamConnection, reusable: Bool) {
        outstanding -= 1
        if !reusable {
            c.close()
            return
        }
        if !waiters.isEmpty {
            let w = waiters.removeFirst()
            outstanding += 1
            w.deliver(.success(c))
            return
        }
        idle.append(c)
    }

    /// Called by a connection when its channel goes away.
    func connectionClosed(wasIdle: Bool) {
        open -= 1
        if wasIdle { idle.removeAll { !$0.isUsable } }
        if !waiters.isEmpty && open < group.maxConnectionsPerLoop {
            let w = waiters.removeFirst()
            connect(for: w)
        }
    }

    func removeWaiter(_ w: ProxyConnection) {
        waiters.removeAll { $0.connection === w }
    }

    func closeIdle() {
        let all = idle
        idle.removeAll()
        for c in all { c.close() }
    }
}
