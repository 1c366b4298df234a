public import NIOCore
public import PortcullisTLS
import PortcullisCore

/// Settings shared by every pool of one client; immutable once the client is made.
public struct HTTPClientConfiguration: Sendable {
    /// Upper bound for opening a connection (TCP connect), further shortened by the request deadline.
    public var connectTimeout: TimeAmount
    /// An idle connection that no request takes within this closes.
    public var idleTimeout: TimeAmount
    /// Idle connections kept per scheme+host+port on each event loop; more close after their response.
    public var maxIdlePerKey: Int
    /// Bodies larger than this fail with `.tooLarge`.
    public var maxResponseBytes: Int
    /// Needed for https URLs: trust roots and host name checking for every https connection.
    public var tls: TLSClientContext?

    public init(
        connectTimeout: TimeAmount = .seconds(5), idleTimeout: TimeAmount = .seconds(60), maxIdlePerKey: Int = 8,
        maxResponseBytes: Int = 1 << 20, tls: TLSClientContext? = nil
    ) {
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
        self.maxIdlePerKey = maxIdlePerKey
        self.maxResponseBytes = maxResponseBytes
        self.tls = tls
    }
}

/// An HTTP/1.1 client for the gateway's own calls out (key sets, discovery, external
/// authorizers): keep-alive connections pooled per event loop and per scheme+host+port.
///
/// Shareable (`Sendable`) and immutable: its only state is one `LoopPools` per loop of the group,
/// each reachable only from its own loop. A request made on loop L runs on L's pools, so the hot
/// path takes no lock and never hops threads; a request made on a foreign loop runs on one of
/// the group's and its result hops back.
public final class HTTPClient: Sendable {
    public let configuration: HTTPClientConfiguration
    private let group: any EventLoopGroup
    /// Built once in `init`, read-only after: looking a loop up needs no lock.
    private let pools: [ObjectIdentifier: NIOLoopBoundBox<LoopPools>]

    public init(group: any EventLoopGroup, configuration: HTTPClientConfiguration = HTTPClientConfiguration()) {
        self.configuration = configuration
        self.group = group
        var pools: [ObjectIdentifier: NIOLoopBoundBox<LoopPools>] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = .makeBoxSendingValue(LoopPools(loop: loop, configuration: configuration), eventLoop: loop)
        }
        self.pools = pools
    }

    /// Sends `request` and collects the whole response, on `loop`'s pools. Fails with an
    /// `HTTPClientError`; `.timedOut` once `deadline` passes (that connection is then closed).
    public func execute(
        _ request: HTTPClientRequest, deadline: NIODeadline, on loop: any EventLoop
    ) -> EventLoopFuture<HTTPClientResponse> {
        guard let box = pools[ObjectIdentifier(loop)] else {
            return execute(request, deadline: deadline, on: group.next()).hop(to: loop)
        }
        let bytes: ByteBuffer
        do {
            bytes = try request.encoded()
        } catch {
            return loop.makeFailedFuture(error)
        }
        let key = PoolKey(request.url)
        let method = RequestMethod(request.method)
        if loop.inEventLoop {
            return Self.start(box.value, key: key, method: method, bytes: bytes, retryable: request.retryable, deadline: deadline)
        }
        return loop.flatSubmit {
            Self.start(box.value, key: key, method: method, bytes: bytes, retryable: request.retryable, deadline: deadline)
        }
    }

    /// `execute` with a deadline `timeout` from now.
    public func execute(
        _ request: HTTPClientRequest, timeout: TimeAmount, on loop: any EventLoop
    ) -> EventLoopFuture<HTTPClientResponse> {
        execute(request, deadline: .now() + timeout, on: loop)
    }

    /// Closes every idle connection on every loop (requests in flight finish normally).
    public func closeIdleConnections() -> EventLoopFuture<Void> {
        let done = pools.values.map { box in box.eventLoop.submit { box.value.closeIdle() } }
        return EventLoopFuture.andAllSucceed(done, on: group.next())
    }

    /// Idle connections in `loop`'s pools; for tests.
    public func idleConnectionCount(on loop: any EventLoop) -> EventLoopFuture<Int> {
        guard let box = pools[ObjectIdentifier(loop)] else { return loop.makeSucceededFuture(0) }
        return loop.submit { box.value.idleCount }
    }

    private static func start(
        _ pools: LoopPools, key: PoolKey, method: RequestMethod, bytes: ByteBuffer, retryable: Bool, deadline: NIODeadline
    ) -> EventLoopFuture<HTTPClientResponse> {
        let x = RequestExchange(
            key: key, method: method, bytes: bytes, retryable: retryable, deadline: deadline, promise: pools.loop.makePromise())
        pools.start(x)
        return x.futureResult
    }
}
