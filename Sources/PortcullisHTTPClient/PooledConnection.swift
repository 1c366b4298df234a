import NIOCore
import PortcullisTLS

/// One keep-alive connection of a pool: writes a request, decodes its response, then goes back to
/// its pool or closes. Carries at most one exchange at a time (no pipelining). Lives on its
/// channel's loop, which is also the loop of its `LoopPools`; neither is touched from elsewhere.
final class PooledConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let key: PoolKey
    /// Weak: the pools own idle connections, not the other way round.
    weak var pools: LoopPools?
    private let maxBodyBytes: Int
    private var context: ChannelHandlerContext? = nil
    private var exchange: RequestExchange? = nil
    private var decoder: ResponseDecoder? = nil
    private var idleTimer: Scheduled<Void>? = nil
    /// Responses completed on this connection: a request after the first one is on a reused connection.
    private var served = 0
    /// The first error the pipeline reported (I/O or TLS), for the failure that the close causes.
    private var firstError: (any Error)? = nil
    private var handshakeDone: Bool
    private var closed = false

    init(key: PoolKey, pools: LoopPools, maxBodyBytes: Int) {
        self.key = key
        self.pools = pools
        self.maxBodyBytes = maxBodyBytes
        // Plain connections have nothing to negotiate.
        self.handshakeDone = !key.isTLS
    }

    /// Open and not closing. A server that closed an idle connection is noticed when its FIN is
    /// read (`channelInactive` takes the connection out of the pool); a FIN still in flight is
    /// what the one retry on a fresh connection is for.
    var isUsable: Bool { !closed && context?.channel.isActive == true }

    var isReused: Bool { served > 0 }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func send(_ x: RequestExchange) {
        guard let context else { return retryOrFail(x, error: nil) }
        idleTimer?.cancel()
        idleTimer = nil
        exchange = x
        x.connection = self
        decoder = ResponseDecoder(method: x.method, maxBodyBytes: maxBodyBytes)
        context.writeAndFlush(wrapOutboundOut(x.bytes), promise: nil)
    }

    /// Parks the connection in its pool; it closes itself if no request takes it within `timeout`.
    func becomeIdle(timeout: TimeAmount) {
        guard let context else { return }
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            self?.close()
        }
    }

    /// The exchange gave up (deadline): close, so that its late answer is never read as another's.
    func abandon(_ x: RequestExchange) {
        guard exchange === x else { return }
        exchange = nil
        decoder = nil
        close()
    }

    func close() {
        guard !closed else { return }
        closed = true
        idleTimer?.cancel()
        idleTimer = nil
        context?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let x = exchange, var d = decoder else {
            // Bytes while idle: nothing asked for them, so the connection's framing is lost.
            return close()
        }
        do {
            let step = try d.feed(unwrapInboundIn(data))
            decoder = d
            guard case .complete(let reusable) = step, let response = d.response else { return }
            finish(x, response, reusable: reusable)
        } catch {
            exchange = nil
            decoder = nil
            x.fail(error)
            close()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is TLSHandshakeCompleted { handshakeDone = true }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if firstError == nil { firstError = error }
        close()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        idleTimer?.cancel()
        idleTimer = nil
        if let x = exchange, var d = decoder {
            exchange = nil
            decoder = nil
            if d.sawBytes {
                do {
                    try d.end()
                    if let response = d.response { x.succeed(response) } else { x.fail(HTTPClientError.closedEarly) }
                } catch {
                    x.fail(firstError.map { HTTPClientError.connectionFailed("\($0)") } ?? error)
                }
            } else {
                retryOrFail(x, error: firstError)
            }
        }
        pools?.connectionClosed(self)
        self.context = nil
    }

    private func finish(_ x: RequestExchange, _ response: HTTPClientResponse, reusable: Bool) {
        exchange = nil
        decoder = nil
        served += 1
        // Back to the pool before the caller hears of it, so a follow-up request finds it idle.
        if reusable, isUsable, let pools {
            pools.release(self)
        } else {
            close()
        }
        x.succeed(response)
    }

    /// The connection ended before any response byte. On a reused connection this is the race with
    /// a server closing it as idle: a retryable request goes once more on a fresh connection.
    private func retryOrFail(_ x: RequestExchange, error: (any Error)?) {
        if isReused, x.retryable, !x.retried, !x.isDone, let pools {
            x.retried = true
            pools.connectFresh(x)
        } else if !handshakeDone {
            x.fail(HTTPClientError.connectFailed("TLS handshake with \(key.host):\(key.port): \(error.map { "\($0)" } ?? "closed")"))
        } else if let error {
            x.fail(HTTPClientError.connectionFailed("\(error)"))
        } else {
            x.fail(HTTPClientError.closedEarly)
        }
    }
}
