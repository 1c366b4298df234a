import Logging
import NIOCore
import PortcullisAuth
import PortcullisConfig
import PortcullisCore
import PortcullisTLS

/// One client connection: a thin shell over `ConnectionStateMachine`. It holds what only a
/// channel handler can hold (the channel context, inbound bytes, the upstream
/// connection in use), turns channel and upstream events into machine events, and carries out the
/// machine's actions. The request's own data is one `RequestState` value, replaced per request.
///
/// The request path, in files: head parsing in `+Head`; routing and admission phases in
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
    var cachedView: (snapshot: Snapshot, router: Router, forwardClientCert: Bool, facts: AuthRequest.ListenerFacts)?

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

    /// The context holds this handler and, through its pipeline, the channel: holding the context
    /// back past removal would keep all three alive for good, about 4.6 KB per closed connection.
    /// Late answers after this find the machine closed and touch nothing (`generation`, `state`).
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
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
        request.admission?.driver.abandon()
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
            case .bufferingBody:
                bufferBody()
                return
            default:
                return
            }
        }
    }

    // MARK: Carrying out the machine's actions

    /// Actions that need no request data; the others are handled where they are returned.
    func perform(_ action: ConnectionStateMachine.Action) {
        switch action {
        case .close: closeAfterFlush()
        case .awaitNextRequest:
            if inbound?.readableBytes == 0 { inbound = nil }
            resumeReading()
            // Pipelined requests already buffered start now, in order.
            if let b = inbound, b.readableBytes > 0 { drive() }
        case .none, .answer, .upstreamTimedOut, .headTimedOut, .bodyTimedOut: break
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
            beginRequest(head: nil, now: now)
            answer(Refusal(.REQUEST_TIMEOUT, reason: "request head not received in time", closeConnection: true), keepAlive: false)
        case .upstreamTimedOut:
            dropUpstream()
            refuse(Refusal(.INTEGRATION_TIMEOUT, reason: "upstream did not answer in time"))
        case .bodyTimedOut:
            refuse(Refusal(.REQUEST_TIMEOUT, reason: "request body not received in time", closeConnection: true))
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
