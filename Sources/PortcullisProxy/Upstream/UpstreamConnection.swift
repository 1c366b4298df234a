import NIOCore
import PortcullisCore

/// One keep-alive connection to an upstream. Parses response heads with the same parser as
/// requests and passes body bytes through untouched to the `ProxyConnection` that holds it.
/// Lives on one loop; `delegate` is set only while a request uses the connection.
final class UpstreamConnection: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum State {
        case idle
        case awaitingHead(RequestMethod)
        case body(BodyFraming)
        case tunnel
        case closed
    }

    /// Response heads: up to 500 fields and 64 KiB in all (checked before parsing); no limit per
    /// line, since the limit on client header lines is about what clients may send.
    static let responseLimits = HeadLimits(maxHeaders: 500, maxFieldLineBytes: .max)

    var pool: EndpointPool?
    var delegate: ProxyConnection?
    private var context: ChannelHandlerContext?
    private var state: State = .idle
    private var inbound: ByteBuffer?
    private var scanned = 0
    private var fields: [HeaderField] = []
    private var remaining: Int64 = 0
    private var chunked = ChunkedDecoder()
    private var readPending = false
    private(set) var responseStarted = false
    /// Set when the response says the connection must not be reused.
    private var keepAlive = true
    private var sawResponseEnd = false

    var isUsable: Bool { context?.channel.isActive ?? false && !isClosed }
    private var isClosed: Bool { if case .closed = state { return true } else { return false } }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// Starts a request/response exchange: the proxy writes the head and body after this.
    func begin(method: RequestMethod, delegate: ProxyConnection) {
        self.delegate = delegate
        state = .awaitingHead(method)
        responseStarted = false
        sawResponseEnd = false
        keepAlive = true
    }

    /// Counts exchanges, so that a head queued for the end of a loop turn goes out only if its
    /// exchange is still the current one.
    private var exchange: UInt64 = 0
    /// A head waits for the end of the loop turn: nothing has been sent for this exchange yet.
    private var headPending = false

    /// The head of this exchange waits for the end of the turn; returns the exchange's number.
    func headQueued() -> UInt64 {
        exchange &+= 1
        headPending = true
        return exchange
    }

    /// The turn ends: true if `exchange` is still waiting for its head on an open connection
    /// (the caller writes it now), false if it has ended meanwhile.
    func headSent(exchange e: UInt64) -> Bool {
        guard e == exchange, headPending else { return false }
        headPending = false
        return !isClosed && context != nil
    }

    func write(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    func flush() { context?.flush() }

    func close() {
        state = .closed
        context?.close(promise: nil)
    }

    /// Switches to raw byte forwarding after a 101 (WebSocket).
    func startTunnel() { state = .tunnel }

    func resumeReading() {
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    func read(context: ChannelHandlerContext) {
        if let d = delegate, !d.clientWritable {
            readPending = true
            return
        }
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buf = unwrapInboundIn(data)
        if inbound == nil || inbound!.readableBytes == 0 {
            inbound = buf
        } else {
            var b = buf
            inbound!.writeBuffer(&b)
        }
        process()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let wasIdle = delegate == nil
        let previous = state
        state = .closed
        if let d = delegate {
            delegate = nil
            if case .body(.untilClose) = previous {
                d.upstreamEnd(self, reusable: false)
            } else if case .tunnel = previous {
                d.upstreamTunnelClosed()
            } else {
                d.upstreamFailed(self, reason: "upstream closed the connection", responseStarted: responseStarted)
            }
        }
        pool?.connectionClosed(wasIdle: wasIdle)
        pool = nil
        self.context = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func process() {
        if headPending, let b = inbound, b.readableBytes > 0 {
            // An answer before the request was sent: never hand it to this request.
            inbound = nil
            headPending = false
            return fail("upstream sent bytes before the request")
        }
        while var buf = inbound, buf.readableBytes > 0 {
            switch state {
            case .idle, .closed:
                // Bytes on an idle connection are a protocol error: never hand them to a later request.
                inbound = nil
                close()
                return
            case .awaitingHead(let method):
                guard let len = HeadScanner.headLength(in: buf, scanned: &scanned) else {
                    if buf.readableBytes > 64 * 1024 { fail("upstream response head too large") }
                    return
                }
                scanned = 0
                let raw = buf.readSlice(length: len)!
                inbound = buf
                let head: HTTPResponseHead
                do {
                    head = try HeadParser.parseResponse(raw, requestMethod: method, limits: Self.responseLimits, reusing: &fields)
                } catch {
                    fail("invalid upstream response head: \(error)")
                    return
                }
                if head.status >= 100 && head.status < 200 && head.status != 101 {
                    continue  // interim responses are not forwarded; Expect is answered by the proxy itself
                }
                keepAlive = head.keepAlive
                responseStarted = true
                // A small body that arrived with its head leaves in the same buffer: one write, not two.
                if case .length(let n) = head.framing, n <= 8192, head.status != 101, buf.readableBytes >= Int(n) {
                    let body = buf.readSlice(length: Int(n))!
                    inbound = buf
                    state = .body(.none)
                    delegate?.upstreamHead(self, head, inlineBody: body)
                    finish()
                    continue
                }
                switch head.framing {
                case .length(let n): remaining = n
                case .chunked: chunked = ChunkedDecoder()
                default: break
                }
                state = head.status == 101 ? .tunnel : .body(head.framing)
                delegate?.upstreamHead(self, head, inlineBody: nil)
                if case .body(.none) = state { finish() }
            case .body(let framing):
                switch framing {
                case .length:
                    let n = Int(min(Int64(buf.readableBytes), remaining))
                    let slice = buf.readSlice(length: n)!
                    inbound = buf
                    remaining -= Int64(n)
                    delegate?.upstreamBody(slice)
                    if remaining == 0 { finish() }
                case .chunked:
                    let n: Int
                    do { n = try chunked.consume(buf) } catch {
                        fail("invalid chunked framing from upstream")
                        return
                    }
                    let slice = buf.readSlice(length: n)!
                    inbound = buf
                    delegate?.upstreamBody(slice)
                    if chunked.isDone { finish() }
                case .untilClose:
                    inbound = nil
                    delegate?.upstreamBody(buf)
                case .none:
                    finish()
                }
            case .tunnel:
                inbound = nil
                delegate?.upstreamBody(buf)
            }
        }
    }

    private func finish() {
        let leftover = (inbound?.readableBytes ?? 0) > 0
        state = .idle
        let d = delegate
        delegate = nil
        d?.upstreamEnd(self, reusable: keepAlive && !leftover)
    }

    private func fail(_ reason: String) {
        let d = delegate
        delegate = nil
        state = .closed
        d?.upstreamFailed(self, reason: reason, responseStarted: responseStarted)
        context?.close(promise: nil)
    }
}
