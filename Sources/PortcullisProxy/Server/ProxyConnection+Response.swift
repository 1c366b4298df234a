import PortcullisAuth
import NIOCore
import PortcullisCore

extension ProxyConnection {
    // MARK: Upstream callbacks (same loop)

    func upstreamHead(_ c: UpstreamConnection, _ r: HTTPResponseHead, inlineBody: ByteBuffer?) {
        guard let h = request.head else { return }
        request.status = r.status
        request.upstreamLatency = (NIODeadline.now() - request.upstreamStarted).nanoseconds
        let tunnel = r.status == 101 && (request.route?.websocket ?? false) && h.wantsUpgrade
        // What the response's framing allows after it, for this client.
        var allowsKeepAlive = true
        request.responseMode = .raw
        switch r.framing {
        case .chunked where h.version == .http10:
            request.responseMode = .dechunk
            request.responseDechunker = ChunkedDecoder()
            allowsKeepAlive = false
        case .untilClose:
            if h.version == .http11 && !tunnel { request.responseMode = .rechunk } else { allowsKeepAlive = false }
        default:
            break
        }
        // An upgrade nobody asked for cannot be relayed as HTTP/1.1.
        if r.status == 101 && !tunnel { allowsKeepAlive = false }
        machine.responseHead(keepAlive: allowsKeepAlive, tunnel: tunnel, draining: loop.draining)
        loop.responseHeadScratch.clear()
        ResponseHeadWriter.write(
            r, clientVersion: h.version, mode: request.responseMode, tunnel: tunnel, keepAlive: machine.keepAlive,
            requestID: request.id, into: &loop.responseHeadScratch)
        request.headBytes = loop.responseHeadScratch.readableBytes
        if let body = inlineBody { loop.responseHeadScratch.writeImmutableBuffer(body) }
        let out = loop.responseHeadScratch
        request.bytesSent += out.readableBytes
        clientDirty = true
        context.write(wrapOutboundOut(out), promise: nil)
        if tunnel {
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
        request.bytesSent += buf.readableBytes
        clientDirty = true
        switch request.responseMode {
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
            _ = try? request.responseDechunker.consume(buf) { spans.append(($0, $1)) }
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
        if machine.state == .exchanging && !machine.requestBodyDone { drive() }
        resumeReading()
    }

    func upstreamEnd(_ c: UpstreamConnection, reusable: Bool) {
        guard request.upstream === c else { return }
        request.upstream = nil
        if request.responseMode == .rechunk {
            context.write(wrapOutboundOut(ByteBuffer(staticString: "0\r\n\r\n")), promise: nil)
        }
        request.pool?.release(c, reusable: machine.responseEnded(reusable: reusable))
        clientDirty = false
        context.flush()
        endRequest()
    }

    func upstreamFailed(_ c: UpstreamConnection, reason: String, responseStarted: Bool) {
        guard request.upstream === c else { return }
        request.upstream = nil
        request.pool?.release(c, reusable: false)
        request.errorReason = reason
        let action = machine.upstreamFailed()
        if action == .close {
            // The client already has part of the answer: the only honest signal left is closing.
            logRequest()
            return perform(action)
        }
        // A pooled connection the upstream had closed: the request never reached it.
        if request.reusedConnection && request.head?.framing == BodyFraming.none && request.attempts == 0 {
            return retryOnFreshConnection()
        }
        refuse(Refusal(.INTEGRATION_FAILURE, reason: reason))
    }

    /// The upstream closed after a 101: the tunnel (or a 101 relayed without one) is over.
    func upstreamTunnelClosed() {
        if let u = request.upstream {
            request.upstream = nil
            request.pool?.release(u, reusable: false)
        }
        // A tunnel was logged when it opened; a 101 nobody asked for is logged now.
        if machine.state != .tunnel { logRequest() }
        perform(machine.close())
    }

    // MARK: Answers from the gateway

    /// Answers the current request from the gateway (a refusal of any phase, or an upstream
    /// failure before the response started) and ends it.
    func refuse(_ refusal: Refusal) {
        let discarded = !machine.requestBodyDone && discardBufferedBody()
        switch machine.refused(closeConnection: refusal.closeConnection, bodyDiscarded: discarded, draining: loop.draining) {
        case .answer(let keepAlive):
            answer(refusal, keepAlive: keepAlive)
        case let other:
            request.errorReason = refusal.reason
            request.responseType = refusal.type
            if snapshot.metrics { loop.metrics.recordGatewayResponse(refusal.type) }
            logRequest()
            perform(other)
        }
    }

    /// Writes the gateway response for `refusal` (`Snapshot.render`) and ends the request.
    func answer(_ refusal: Refusal, keepAlive: Bool) {
        var out = context.channel.allocator.buffer(capacity: 512)
        let (status, bodyBytes) = snapshot.render(
            refusal, api: request.api, bodyLimit: request.bodyLimit, requestID: request.id, keepAlive: keepAlive, into: &out)
        request.status = status
        request.bytesSent = out.readableBytes
        request.headBytes = out.readableBytes - bodyBytes
        request.errorReason = refusal.reason
        request.responseType = refusal.type
        if snapshot.metrics { loop.metrics.recordGatewayResponse(refusal.type) }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        endRequest()
    }

    /// A refused request's body can be skipped if it is a Content-Length body already buffered;
    /// otherwise the connection must close, since the next request would start mid-body.
    private func discardBufferedBody() -> Bool {
        guard let h = request.head, case .length(let n) = h.framing, var buf = inbound, Int64(buf.readableBytes) >= n else {
            return false
        }
        buf.moveReaderIndex(forwardBy: Int(n))
        inbound = buf
        return true
    }

    // MARK: End of a request

    /// Logs the request, lets go of its data, and leaves the connection idle or closes it.
    func endRequest() {
        logRequest()
        request = .none
        perform(machine.requestEnded(now: .now(), idleTimeout: snapshot.idleTimeout, draining: loop.draining))
    }

    func logRequest() {
        guard snapshot.accessLog || snapshot.metrics else { return }
        let now = NIODeadline.now()
        if snapshot.metrics {
            loop.metrics.record(
                slot: request.route?.metricsSlot ?? 0, status: request.status, totalMicros: (now - request.started).nanoseconds / 1000,
                upstreamMicros: request.upstreamLatency < 0 ? -1 : request.upstreamLatency / 1000)
        }
        guard snapshot.accessLog else { return }
        // Sampling thins out busy routes' successes; refusals and errors are always logged.
        if request.status < 400, request.errorReason == nil, let route = request.route, !loop.accessLog.sampled(route.logThreshold) { return }
        var source = peerText
        if !snapshot.trustedProxies.isEmpty, let h = request.head, let ip = snapshot.clientIP(h, peer: peerIP) { source = ip.description }
        loop.accessLog.append(
            AccessLogEntry(
                requestID: request.id, sourceIP: source, head: request.head, resourcePath: request.route?.template,
                apiID: request.api?.apiRef.id, stage: request.api?.apiRef.stage, status: request.status, responseLength: request.bytesSent - request.headBytes,
                responseMicros: (now - request.started).nanoseconds / 1000,
                integrationMicros: request.upstreamLatency < 0 ? -1 : request.upstreamLatency / 1000,
                principal: request.identity?.kind == .apiKey ? nil : request.identity?.principal, apiKeyID: request.identity?.apiKeyID,
                responseType: request.responseType, reason: request.errorReason,
                authorizerError: request.authorizerRefused ? request.errorReason : nil,
                authorizerContext: request.identity?.kind == .external ? request.identity?.claims : nil))
    }
}
