import NIOCore
import NIOPosix
import PortcullisTLS

/// The connection pools of one event loop, keyed by scheme, host and port. Everything here runs
/// on `loop`: the client reaches it through a `NIOLoopBoundBox`, connections call back on the
/// same loop, so no lock is taken per request and no connection crosses threads.
final class LoopPools {
    let loop: any EventLoop
    private let configuration: HTTPClientConfiguration
    /// Idle connections per key, most recently used last (taken first: it is the likeliest to
    /// still be open, and the others age out by their idle timers).
    private var idle: [PoolKey: [PooledConnection]] = [:]

    init(loop: any EventLoop, configuration: HTTPClientConfiguration) {
        self.loop = loop
        self.configuration = configuration
    }

    /// Starts an exchange: arms its deadline, then sends it on an idle connection or a new one.
    func start(_ x: RequestExchange) {
        loop.preconditionInEventLoop()
        x.startDeadline(on: loop)
        if let c = takeIdle(x.key) {
            c.send(x)
        } else {
            connectFresh(x)
        }
    }

    private func takeIdle(_ key: PoolKey) -> PooledConnection? {
        guard var list = idle[key], !list.isEmpty else { return nil }
        defer { idle[key] = list }
        while let c = list.popLast() {
            if c.isUsable { return c }
        }
        return nil
    }

    /// Opens a connection for `x` (first attempt, or the one retry). The connect timeout is the
    /// configured one, shortened to what is left of the request's deadline.
    func connectFresh(_ x: RequestExchange) {
        let key = x.key
        if key.isTLS && configuration.tls == nil { return x.fail(HTTPClientError.tlsNotConfigured) }
        let remaining = x.deadline - .now()
        guard remaining > .zero else { return x.fail(HTTPClientError.timedOut) }
        let tls = configuration.tls
        let maxBodyBytes = configuration.maxResponseBytes
        let bound = NIOLoopBound(self, eventLoop: loop)
        ClientBootstrap(group: loop)
            .connectTimeout(min(configuration.connectTimeout, remaining))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if key.isTLS, let tls {
                        // The host is matched against the certificate (DNS or IP SAN); SNI is sent for names only.
                        try channel.pipeline.syncOperations.addHandler(TLSClientHandler(context: tls, serverHostname: key.host))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        PooledConnection(key: key, pools: bound.value, maxBodyBytes: maxBodyBytes))
                }
            }
            .connect(host: key.host, port: key.port)
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    guard let c = try? channel.pipeline.syncOperations.handler(type: PooledConnection.self) else {
                        channel.close(promise: nil)
                        return x.fail(HTTPClientError.connectFailed("\(key.host):\(key.port): closed at once"))
                    }
                    // A request that timed out while connecting leaves an unused connection: keep it.
                    if x.isDone { release(c) } else { c.send(x) }
                case .failure(let error):
                    x.fail(HTTPClientError.connectFailed("\(key.host):\(key.port): \(error)"))
                }
            }
    }

    /// A connection finished a response and may carry another. Beyond the idle cap it closes.
    func release(_ c: PooledConnection) {
        guard c.isUsable else { return c.close() }
        var list = idle[c.key] ?? []
        guard list.count < configuration.maxIdlePerKey else { return c.close() }
        c.becomeIdle(timeout: configuration.idleTimeout)
        list.append(c)
        idle[c.key] = list
    }

    /// A connection's channel went away (server close, idle timeout, error): forget it if idle.
    func connectionClosed(_ c: PooledConnection) {
        guard var list = idle[c.key], let i = list.firstIndex(where: { $0 === c }) else { return }
        list.remove(at: i)
        idle[c.key] = list.isEmpty ? nil : list
    }

    func closeIdle() {
        let all = idle.values.flatMap { $0 }
        idle = [:]
        for c in all { c.close() }
    }

    /// Idle connections per key, for tests and status.
    var idleCount: Int { idle.values.reduce(0) { $0 + $1.count } }
}
