import Logging
import NIOCore
import PortcullisAuth
import PortcullisConfig
import PortcullisCore
import PortcullisTLS

/// One client connection. Owns its inbound bytes and runs each request through the phases of
/// DESIGN.md in order: head → route → authorizers → upstream → stream back → log. Requests on a
/// connection are handled one at a time, so pipelined requests are answered in order.
///
/// Lives on one event loop (not Sendable). The HTTP/1 framing is our own byte-level parser
/// (`PortcullisCore`): heads are indexed, not copied into String pairs, and bodies are forwarded
/// as the bytes that arrived. That keeps the per-request cost near one buffer for the upstream head.
final class ProxyConnection: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase {
        /// Waiting for (or reading) the next request head.
        case idle
        /// Head parsed; routing, authorizers or connecting to the upstream.
        case preparing
        /// An upstream holds the request; body and response may both be flowing.
        case exchanging
        /// After a 101: bytes pass both ways untouched.
        case tunnel
        case closed
    }

    /// How upstream response bytes become client bytes.
    enum ResponseMode {
        case raw
        /// The upstream ends its body by closing; the client gets chunks instead.
        case rechunk
        /// A chunked body for an HTTP/1.0 client: payload only, connection closes at the end.
        case dechunk
    }

    let loop: LoopContext
    let listener: ListenerRuntime
    var context: ChannelHandlerContext!
    var phase: Phase = .idle
    var inbound: ByteBuffer?
    var scanned = 0
    var fields: [HeaderField] = []
    var readPending = false
    /// Writes not yet flushed, so read-complete events flush only channels that have something.
    var upstreamDirty = false
    var clientDirty = false
    /// The client half-closed: answer what was sent, then close (`printf ... | nc` clients).
    var inputClosed = false
    /// How far `hasBareLFHeadEnd` has looked into the current partial head.
    var lfScanned = 1
    var peerIP: IPAddress?
    var peerText = ""
    /// The handshake's outcome on a TLS listener (version, cipher, SNI, verified client certificate).
    var tls: TLSHandshakeCompleted?
    /// X-Client-Cert-* lines for the upstream, rendered once per connection.
    var clientCertHeaders: [(String, String)] = []

    /// This listener's router in the snapshot it was looked up in (one dictionary lookup per reload).
    /// This listener's view of the snapshot it was looked up in: its router and whether it forwards
    /// client certificates. Held strongly: an identifier alone could match a new snapshot at a
    /// reused address.
    var cachedView: (snapshot: Snapshot, router: Router, forwardClientCert: Bool)?
    /// Head buffers reused across requests: once the socket has taken a head, NIO drops its
    /// reference and the next `clear()` keeps the storage, so a request costs no head allocation.
    var requestHeadScratch = ByteBuffer()
    var responseHeadScratch = ByteBuffer()

    // Per request. Reset by `finishRequest`.
    var snapshot: Snapshot
    var head: HTTPRequestHead?
    var requestID = RequestID(hi: 0, lo: 0)
    var api: CompiledAPI?
    var route: CompiledRoute?
    /// Where the upstream path starts inside the request path (after the stage prefix).
    var restStart = 0
    var params: [ParamRange] = []
    var group: UpstreamGroupSpec?
    var pool: EndpointPool?
    var upstream: UpstreamConnection?
    var attempts = 0
    var reusedConnection = false
    var identity: Identity?
    var requestGeneration = 0
    var bodyRemaining: Int64 = 0
    var bodyDecoder = ChunkedDecoder()
    var bodyLimit: Int64 = 0
    var requestBodyDone = true
    var responseHeadSent = false
    var responseMode = ResponseMode.raw
    var responseDechunker = ChunkedDecoder()
    var keepAliveAfter = true
    var status = 0
    var bytesSent = 0
    var errorReason: String?
    var started = NIODeadline.uptimeNanoseconds(0)
    var upstreamStarted = NIODeadline.uptimeNanoseconds(0)
    var upstreamLatency: Int64 = -1

    // Deadlines checked by the loop's sweeper.
    var headDeadline: NIODeadline?
    var idleDeadline: NIODeadline?
    var responseDeadline: NIODeadline?

    init(loop: LoopContext, listener: ListenerRuntime) {
        self.loop = loop
        self.listener = listener
        self.snapshot = loop.snapshot
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
        headDeadline = .now() + snapshot.headerTimeout
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        loop.connections[ObjectIdentifier(self)] = nil
        let wasPhase = phase
        phase = .closed
        if let u = upstream {
            upstream = nil
            u.delegate = nil
            pool?.release(u, reusable: false)
        } else if let p = pool, wasPhase == .preparing {
            p.removeWaiter(self)
        }
        if wasPhase == .preparing || wasPhase == .exchanging {
            if status == 0 { status = 499 }
            errorReason = errorReason ?? "client closed the connection"
            logRequest()
        }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed {
            inputClosed = true
            keepAliveAfter = false
            if phase == .idle {
                drive()
                // Nothing complete arrived: nothing to answer.
                if phase == .idle { closeAfterFlush() }
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
        if phase == .tunnel {
            upstream?.write(buf)
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
            upstream?.flush()
        }
        if clientDirty {
            clientDirty = false
            context.flush()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        errorReason = "\(error)"
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

    /// Reads are paused while the upstream cannot take more body bytes, and while a request is in
    /// flight and enough pipelined bytes wait: memory stays flat whatever the client sends.
    func read(context: ChannelHandlerContext) {
        if shouldPauseReading {
            readPending = true
        } else {
            context.read()
        }
    }

    var shouldPauseReading: Bool {
        switch phase {
        case .idle, .closed: return false
        case .tunnel: return !(upstream?.isWritable ?? true)
        case .preparing: return (inbound?.readableBytes ?? 0) >= 64 * 1024
        case .exchanging:
            if !requestBodyDone { return !(upstream?.isWritable ?? false) }
            return (inbound?.readableBytes ?? 0) >= 64 * 1024
        }
    }

    func resumeReading() {
        if readPending && !shouldPauseReading {
            readPending = false
            context?.read()
        }
    }

    // MARK: Driving the phases

    /// Consumes inbound bytes as far as the current phase allows.
    func drive() {
        while true {
            switch phase {
            case .idle:
                guard startNextRequest() else { return }
            case .exchanging where !requestBodyDone:
                guard pumpBody() else { return }
                return
            default:
                return
            }
        }
    }

    /// Parses the next head from `inbound` and starts its request; false when more bytes are needed.
    private func startNextRequest() -> Bool {
        guard var buf = inbound else { return false }
        // RFC 9112 §2.2: ignore empty lines before a request line.
        while let c = buf.getInteger(at: buf.readerIndex, as: UInt8.self), c == 13 || c == 10 {
            buf.moveReaderIndex(forwardBy: 1)
        }
        inbound = buf
        guard buf.readableBytes > 0 else { return false }
        if headDeadline == nil { headDeadline = .now() + snapshot.headerTimeout }
        snapshot = loop.snapshot
        guard let len = HeadScanner.headLength(in: buf, scanned: &scanned) else {
            if Self.hasBareLFHeadEnd(buf, from: &lfScanned) {
                beginRefusalOnly()
                refuse(Refusal(.BAD_REQUEST, reason: "bare LF line endings", closeConnection: true))
                return false
            }
            if buf.readableBytes > snapshot.limits.maxHeadBytes {
                beginRefusalOnly()
                refuse(Refusal(.REQUEST_HEADER_FIELDS_TOO_LARGE, reason: "request head over \(snapshot.limits.maxHeadBytes) bytes", closeConnection: true))
            }
            return false
        }
        scanned = 0
        lfScanned = 1
        if len > snapshot.limits.maxHeadBytes {
            beginRefusalOnly()
            refuse(Refusal(.REQUEST_HEADER_FIELDS_TOO_LARGE, reason: "request head over \(snapshot.limits.maxHeadBytes) bytes", closeConnection: true))
            return false
        }
        let raw = buf.readSlice(length: len)!
        inbound = buf
        headDeadline = nil
        idleDeadline = nil
        do {
            let h = try HeadParser.parseRequest(raw, limits: snapshot.headLimits, reusing: &fields)
            startRequest(h)
        } catch {
            beginRefusalOnly()
            refuse(Self.refusal(for: error))
        }
        return phase == .idle
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

    /// A refusal before any head could be used: fresh request bookkeeping, nothing routed.
    private func beginRefusalOnly() {
        requestID = loop.random.requestID()
        started = .now()
        head = nil
        api = nil
        phase = .preparing
    }
}

/// What a connection knows about the listener that accepted it.
struct ListenerRuntime: Sendable {
    let name: String
    let isTLS: Bool
    var scheme: String { isTLS ? "https" : "http" }
}
