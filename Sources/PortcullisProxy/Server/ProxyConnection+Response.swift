import NIOCore
import PortcullisCore

extension ProxyConnection {
    // MARK: Upstream callbacks (same loop)

    func upstreamHead(_ c: UpstreamConnection, _ r: HTTPResponseHead, inlineBody: ByteBuffer?) {
        guard let h = head else { return }
        responseHeadSent = true
        status = r.status
        if loop.draining { keepAliveAfter = false }
        upstreamLatency = (NIODeadline.now() - upstreamStarted).nanoseconds
        let tunnel = r.status == 101 && (route?.websocket ?? false) && h.wantsUpgrade
        switch r.framing {
        case .chunked:
            if h.version == .http10 {
                responseMode = .dechunk
                responseDechunker = ChunkedDecoder()
                keepAliveAfter = false
            } else {
                responseMode = .raw
            }
        case .untilClose:
            if h.version == .http11 && !tunnel {
                responseMode = .rechunk
            } else {
                responseMode = .raw
                keepAliveAfter = false
            }
        default:
            responseMode = .raw
        }
        if r.status == 101 && !tunnel {
            // An upgrade nobody asked for cannot be relayed as HTTP/1.1.
            keepAliveAfter = false
        }
        responseHeadScratch.clear()
        ResponseHeadWriter.write(
            r, clientVersion: h.version, mode: responseMode, tunnel: tunnel, keepAlive: keepAliveAfter,
            requestID: requestID, into: &responseHeadScratch)
        if let body = inlineBody { responseHeadScratch.writeImmutableBuffer(body) }
        let out = responseHeadScratch
        bytesSent += out.readableBytes
        clientDirty = true
        context.write(wrapOutboundOut(out), promise: nil)
        if tunnel {
            phase = .tunnel
            c.startTunnel()
            if let rest = inbound, rest.readableBytes > 0 {
                inbound = nil
                c.write(rest)
                c.flush()
            }
            logRequest()
            resumeReading()
        }
    }

    func upstreamBody(_ buf: ByteBuffer) {
        bytesSent += buf.readableBytes
        clientDirty = true
        switch responseMode {
        case .raw:
            context.write(wrapOutboundOut(buf), promise: nil)
        case .rechunk:
            guard buf.readableBytes > 0 else { return }
            var prefix = context.channel.allocator.buffer(capacity: 12)
            prefix.writeString(String(buf.readableBytes, radix: 16))
            prefix.writeStaticString("\r\n")
            context.write(wrapOutboundOut(prefix), promise: nil)
            context.write(wrapOutboundOut(buf), promise: nil)
            context.write(wrapOutboundOut(ByteBuffer(staticString: "\r\n")), promise: nil)
        case .dechunk:
            var spans: [(Int, Int)] = []
            _ = try? responseDechunker.consume(buf) { spans.append(($0, $1)) }
            for (o, n) in spans where n > 0 {
                context.write(wrapOutboundOut(buf.getSlice(at: buf.readerIndex + o, length: n)!), promise: nil)
            }
        }
    }

    func upstreamReadComplete() {
        if clientDirty {
            clientDirty = false
            context?.flush()
        }
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        guard writable else { return }
        if phase == .exchanging && !requestBodyDone { drive() }
        resumeReading()
    }

    func upstreamEnd(_ c: UpstreamConnection, reusable: Bool) {
        guard upstream === c else { return }
        upstream = nil
        if responseMode == .rechunk {
            context.write(wrapOutboundOut(ByteBuffer(staticString: "0\r\n\r\n")), promise: nil)
        }
        // An answer before the whole body arrived leaves the client mid-body: close after it.
        if !requestBodyDone { keepAliveAfter = false }
        pool?.release(c, reusable: reusable && requestBodyDone)
        clientDirty = false
        context.flush()
        finishRequest()
    }

    func upstreamFailed(_ c: UpstreamConnection, reason: String, responseStarted: Bool) {
        guard upstream === c else { return }
        upstream = nil
        pool?.release(c, reusable: false)
        errorReason = reason
        if responseStarted {
            // The client already has part of the answer: the only honest signal left is closing.
            keepAliveAfter = false
            logRequest()
            closeAfterFlush()
            return
        }
        // A pooled connection the upstream had closed: the request never reached it, try a fresh one.
        if reusedConnection && head?.framing == .none && attempts == 0 {
            attempts = 1
            phase = .preparing
            reusedConnection = false
            return proceedFresh()
        }
        refuse(Refusal(.INTEGRATION_FAILURE, reason: reason))
    }

    /// Retries on the same endpoint with a newly opened connection.
    private func proceedFresh() {
        guard let p = pool else { return refuse(Refusal(.INTEGRATION_FAILURE, reason: "retry without pool")) }
        p.idle.removeAll { !$0.isUsable }
        switch p.acquire(for: .init(connection: self, generation: requestGeneration)) {
        case .ready(let c): attach(c)
        case .pending: break
        }
    }

    func upstreamTunnelClosed() {
        upstream = nil
        closeAfterFlush()
    }

    // MARK: End of a request

    func finishRequest() {
        logRequest()
        head = nil
        route = nil
        api = nil
        group = nil
        pool = nil
        identity = nil
        attempts = 0
        reusedConnection = false
        responseHeadSent = false
        responseMode = .raw
        params = []
        restStart = 0
        bodyRemaining = 0
        responseDeadline = nil
        upstreamLatency = -1
        status = 0
        bytesSent = 0
        errorReason = nil
        if !keepAliveAfter || loop.draining || inputClosed {
            closeAfterFlush()
            return
        }
        phase = .idle
        idleDeadline = .now() + snapshot.idleTimeout
        requestBodyDone = true
        resumeReading()
        // Pipelined requests already buffered start now, in order.
        if let b = inbound, b.readableBytes > 0 { drive() }
    }

    func closeAfterFlush() {
        guard phase != .closed, let context else { return }
        phase = .closed
        if let u = upstream {
            upstream = nil
            u.delegate = nil
            pool?.release(u, reusable: false)
        }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: nil)
        context.close(promise: nil)
    }

    /// Called by the loop's sweeper: head timeout (408), idle close, upstream timeout (504), drain.
    func checkTimeouts(now: NIODeadline) {
        switch phase {
        case .idle:
            if let d = headDeadline, now >= d {
                requestID = loop.random.requestID()
                started = now
                head = nil
                phase = .preparing
                refuse(Refusal(.REQUEST_TIMEOUT, reason: "request head not received in time", closeConnection: true))
            } else if let d = idleDeadline, now >= d {
                closeAfterFlush()
            } else if loop.draining && (inbound?.readableBytes ?? 0) == 0 {
                closeAfterFlush()
            }
        case .preparing, .exchanging:
            if !responseHeadSent, let d = responseDeadline, now >= d {
                if let u = upstream {
                    upstream = nil
                    u.delegate = nil
                    pool?.release(u, reusable: false)
                }
                pool?.removeWaiter(self)
                if !requestBodyDone { keepAliveAfter = false }
                refuse(Refusal(.INTEGRATION_TIMEOUT, reason: "upstream did not answer in time"))
            }
        case .tunnel, .closed:
            break
        }
    }

    func logRequest() {
        guard snapshot.accessLog else { return }
        let now = NIODeadline.now()
        loop.accessLog.append(
            AccessLogEntry(
                requestID: requestID, client: peerText, method: head?.method.name ?? "-",
                path: head?.path ?? "-", route: route?.template ?? "-", api: api?.config.name ?? "-",
                status: status, bytes: bytesSent, totalMicros: (now - started).nanoseconds / 1000,
                upstreamMicros: upstreamLatency < 0 ? -1 : upstreamLatency / 1000,
                principal: identity?.principal, error: errorReason))
    }
}
