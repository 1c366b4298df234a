import Logging
import NIOCore
import PortcullisConfig
import PortcullisCore
import PortcullisTLS

/// One client connection: a thin shell over `ConnectionStateMachine`. It holds what only a
/// channel handler can hold (the channel context, inbound bytes, scratch buffers, the upstream
/// connection in use), turns channel and upstream events into machine events, and carries out the
/// machine's actions. The request's own data is one `RequestState` value, replaced per request.
///
/// The request path, in files: head parsing here; routing and admission phases in
/// `+Admission`; the upstream exchange and body forwarding in `+Upstream`; the response and the
/// end of a request in `+Response`. docs/ARCHITECTURE.md walks through them.
///
/// Lives on one event loop (not Sendable). Heads are indexed, not copied into String pairs, and
/// bodies are forwarded as the bytes that arrived.
final class ProxyConnection: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let loop: LoopContext
    let listener: ListenerRuntime
    var context: ChannelHandlerContext!
    /// Lifecycle: state, keep-alive, deadlines. Every decision about them is made there.
    var machine: ConnectionStateMachine
    /// The current request's data (or the last one's until the next head).
    var request = RequestState.none
    /// Counts requests: a late future or pool answer meant for an earlier request sees another
    /// number and is not applied to this one.
    var generation = 0
    /// The snapshot the current request started with; a reload never changes a running request.
    var snapshot: Snapshot

    // Inbound bytes and the head scanner's progress across reads.
    var inbound: ByteBuffer?
    var scanned = 0
    /// How far `hasBareLFHeadEnd` has looked into the current partial head.
    var lfScanned = 1
    var fields: [HeaderField] = []
    var readPending = false
    /// Writes not yet flushed, so read-complete events flush only channels that have something.
    var upstreamDirty = false
    var clientDirty = false

    // Per connection, fixed once known.
    var peerIP: IPAddress?
    var peerText = ""
    /// The handshake's outcome on a TLS listener (version, cipher, SNI, verified client certificate).
    var tls: TLSHandshakeCompleted?
    /// X-Client-Cert-* lines for the upstream, rendered once per connection.
    var clientCertHeaders: [(String, String)] = []
    /// This listener's view of the snapshot it was looked up in: its router and whether it
    /// forwards client certificates. Held strongly: an identifier alone could match a new
    /// snapshot at a reused address.
    var cachedView: (snapshot: Snapshot, router: Router, forwardClientCert: Bool)?
    /// Head buffers reused across requests: once the socket has taken a head, NIO drops its
    /// reference and the next `clear()` keeps the storage, so a request costs no head allocation.
    var requestHeadScratch = ByteBuffer()
    var responseHeadScratch = ByteBuffer()

    init(loop: LoopContext, listener: ListenerRuntime) {
        self.loop = loop
        self.listener = listener
        self.snapshot = loop.snapshot
        self.machine = ConnectionStateMachine(now: .now(), headTimeout: loop.snapshot.headerTimeout)
    }

    var clientWritable: Bool { context?.channel.isWritable ?? false }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        if let addr = context.channel.remoteAddress, let text = addr.ipAddress {
            peerText = text
            peerIP = IPAddress(text)?.unmapped
            if let ip = peerIP { peerText = ip.description }
        }
        loop.connections[ObjectIdentifier(self)] = self
        loop.stats.connectionsAccepted += 1
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        loop.connections[ObjectIdentifier(self)] = nil
        let abandoned = machine.channelClosed()
        dropUpstream()
        request.admission?.abandon()
        if abandoned {
            if request.status == 0 { request.status = 499 }
            request.errorReason = request.errorReason ?? "client closed the connection"
            logRequest()
        }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed {
            machine.clientInputClosed()
            if machine.state == .idle {
                // Answer what is complete in the buffer; nothing complete: nothing to answer.
                drive()
                perform(machine.closeIfStillIdle())
            }
            return
        }
        if let done = event as? TLSHandshakeCompleted {
            tls = done
            loop.stats.tlsHandshakes += 1
            if let cert = done.clientCertificate {
                clientCertHeaders = [
                    ("X-Client-Cert-Subject", cert.subject), ("X-Client-Cert-Issuer", cert.issuer),
                    ("X-Client-Cert-Serial", cert.serialNumber),
                    ("X-Client-Cert-SAN", cert.subjectAlternativeNames.joined(separator: ",")),
                    ("X-Client-Cert-Not-Before", cert.notBefore), ("X-Client-Cert-Not-After", cert.notAfter),
                    ("X-Client-Cert-SHA256", cert.sha256Fingerprint),
                ]
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buf = unwrapInboundIn(data)
        if machine.state == .tunnel {
            request.upstream?.write(buf)
            upstreamDirty = true
            return
        }
        if inbound == nil || inbound!.readableBytes == 0 {
            inbound = buf
        } else {
            var b = buf
            inbound!.writeBuffer(&b)
        }
        drive()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if upstreamDirty {
            upstreamDirty = false
            request.upstream?.flush()
        }
        if clientDirty {
            clientDirty = false
            context.flush()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { request.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        request.errorReason = "\(error)"
        if error is TLSError {
            if tls == nil {
                // Scanners and old clients fail handshakes all day: count them, log at debug only.
                loop.stats.tlsHandshakeFailures += 1
                loop.logger.debug("TLS handshake failed", metadata: ["listener": "\(listener.name)", "peer": "\(peerText)", "error": "\(error)"])
            }
            return  // the TLS handler sends its alert and closes the channel itself
        }
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if machine.shouldPauseReading(buffered: inbound?.readableBytes ?? 0, upstreamWritable: request.upstream?.isWritable) {
            readPending = true
        } else {
            context.read()
        }
    }

    func resumeReading() {
        if readPending
            && !machine.shouldPauseReading(buffered: inbound?.readableBytes ?? 0, upstreamWritable: request.upstream?.isWritable)
        {
            readPending = false
            context?.read()
        }
    }

    // MARK: Driving

    /// Consumes inbound bytes as far as the current state allows: heads while idle, body bytes
    /// while the upstream takes them.
    func drive() {
        while true {
            switch machine.state {
            case .idle:
                guard startNextRequest() else { return }
            case .exchanging where !machine.requestBodyDone:
                pumpBody()
                return
            default:
                return
            }
        }
    }

    /// Parses the next head from `inbound` and starts its request; false when more bytes are
    /// needed or the connection can take no more requests now.
    private func startNextRequest() -> Bool {
        guard var buf = inbound else { return false }
        // RFC 9112 §2.2: ignore empty lines before a request line.
        while let c = buf.getInteger(at: buf.readerIndex, as: UInt8.self), c == 13 || c == 10 {
            buf.moveReaderIndex(forwardBy: 1)
        }
        inbound = buf
        guard buf.readableBytes > 0 else { return false }
        snapshot = loop.snapshot
        machine.headStarted(now: .now(), headTimeout: snapshot.headerTimeout)
        guard let len = HeadScanner.headLength(in: buf, scanned: &scanned) else {
            if Self.hasBareLFHeadEnd(buf, from: &lfScanned) {
                refuseHead(Refusal(.BAD_REQUEST, reason: "bare LF line endings", closeConnection: true))
            } else if buf.readableBytes > snapshot.limits.maxHeadBytes {
                refuseHead(Self.headTooLarge(snapshot.limits.maxHeadBytes))
            }
            return false
        }
        scanned = 0
        lfScanned = 1
        if len > snapshot.limits.maxHeadBytes {
            refuseHead(Self.headTooLarge(snapshot.limits.maxHeadBytes))
            return false
        }
        let raw = buf.readSlice(length: len)!
        inbound = buf
        do {
            let h = try HeadParser.parseRequest(raw, limits: snapshot.headLimits, reusing: &fields)
            startRequest(h)
        } catch {
            refuseHead(Self.refusal(for: error))
        }
        return machine.state == .idle
    }

    /// Bytes that cannot become a usable head get their answer, and the connection closes.
    func refuseHead(_ refusal: Refusal, now: NIODeadline = .now()) {
        generation &+= 1
        request = RequestState(id: loop.random.requestID(), started: now, head: nil)
        if case .answer = machine.headRejected() { answer(refusal, keepAlive: false) }
    }

    static func headTooLarge(_ limit: Int) -> Refusal {
        Refusal(.REQUEST_HEADER_FIELDS_TOO_LARGE, reason: "request head over \(limit) bytes", closeConnection: true)
    }

    /// A head ended by LF LF: a client speaking without CRs gets 400 now, not 408 later.
    /// `from` remembers how far earlier calls looked, so a slow client costs linear time.
    static func hasBareLFHeadEnd(_ buf: ByteBuffer, from scanned: inout Int) -> Bool {
        buf.withUnsafeReadableBytes { p in
            defer { scanned = max(1, p.count) }
            guard p.count >= 2 else { return false }
            for i in max(1, min(scanned, p.count))..<p.count where p[i] == 10 && p[i - 1] == 10 { return true }
            return false
        }
    }

    static func refusal(for error: HeadParseError) -> Refusal {
        switch error {
        case .malformed(let why): return Refusal(.BAD_REQUEST, reason: why, closeConnection: true)
        case .tooManyHeaders: return Refusal(.REQUEST_HEADER_FIELDS_TOO_LARGE, reason: "too many header fields", closeConnection: true)
        case .unsupportedVersion: return Refusal(.HTTP_VERSION_NOT_SUPPORTED, reason: "HTTP version", closeConnection: true)
        case .unsupportedTransferCoding: return Refusal(.NOT_IMPLEMENTED, reason: "transfer coding other than chunked", closeConnection: true)
        case .unsupportedExpectation: return Refusal(.EXPECTATION_FAILED, reason: "Expect other than 100-continue", closeConnection: true)
        }
    }

    // MARK: Carrying out the machine's actions

    /// Actions that need no request data; the others are handled where they are returned.
    func perform(_ action: ConnectionStateMachine.Action) {
        switch action {
        case .close: closeAfterFlush()
        case .awaitNextRequest:
            resumeReading()
            // Pipelined requests already buffered start now, in order.
            if let b = inbound, b.readableBytes > 0 { drive() }
        case .none, .answer, .upstreamTimedOut, .headTimedOut: break
        }
    }

    /// Lets go of the upstream exchange, if any: the connection is closed (the request may be
    /// half sent), and a request still waiting for a pool connection leaves the queue.
    func dropUpstream() {
        if let u = request.upstream {
            request.upstream = nil
            u.delegate = nil
            request.pool?.release(u, reusable: false)
        } else if machine.state == .connecting || machine.state == .closed {
            request.pool?.removeWaiter(self)
        }
    }

    /// Flushes what was written and closes the channel. Called once, when the machine says so.
    func closeAfterFlush() {
        guard let context else { return }
        dropUpstream()
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: nil)
        context.close(promise: nil)
    }

    /// Shutdown: an idle connection closes now; one with a request in flight closes after its
    /// answer (the loop is draining, so that answer says Connection: close).
    func closeIfIdle() {
        if machine.state == .idle { perform(machine.close()) }
    }

    /// Called by the loop's sweeper: head timeout (408), idle close, drain, upstream timeout (504).
    func checkTimeouts(now: NIODeadline) {
        switch machine.tick(now: now, draining: loop.draining, buffered: inbound?.readableBytes ?? 0) {
        case .headTimedOut:
            generation &+= 1
            request = RequestState(id: loop.random.requestID(), started: now, head: nil)
            answer(Refusal(.REQUEST_TIMEOUT, reason: "request head not received in time", closeConnection: true), keepAlive: false)
        case .upstreamTimedOut:
            dropUpstream()
            refuse(Refusal(.INTEGRATION_TIMEOUT, reason: "upstream did not answer in time"))
        case let other:
            perform(other)
        }
    }
}

/// What a connection knows about the listener that accepted it.
struct ListenerRuntime: Sendable {
    let name: String
    let isTLS: Bool
    var scheme: String { isTLS ? "https" : "http" }
}
