import NIOCore
import PortcullisCore

extension ProxyConnection {
    /// Phase: admitted. Pick an endpoint and get a connection from this loop's pool.
    func proceed() {
        guard let route = request.route, route.upstreamIndex >= 0 else {
            return refuse(Refusal(.API_CONFIGURATION_ERROR, reason: "route has no upstream"))
        }
        let group = snapshot.groups[route.upstreamIndex]
        let now = NIODeadline.now()
        guard let pool = loop.pickEndpoint(group, in: snapshot, now: now, excluding: request.attempts > 0 ? request.pool : nil) else {
            // Only when no endpoint is left to try: an all-ejected group is still tried (EndpointHealth).
            return refuse(Refusal(.SERVICE_UNAVAILABLE, reason: "no endpoint left to try in upstream \(group.name)"))
        }
        request.pool = pool
        machine.admitted(responseDeadline: now + (route.timeout.map(TimeAmount.init) ?? group.timeout))
        request.upstreamStarted = now
        acquire(from: pool)
    }

    private func acquire(from pool: EndpointPool) {
        // Set before acquiring: a connect that fails at once answers inside `acquire`, and the
        // next pipelined request may already have begun when it returns.
        request.reusedConnection = false
        switch pool.acquire(for: .init(connection: self, generation: generation)) {
        case .ready(let c):
            request.reusedConnection = true
            attach(c)
        case .pending:
            break
        }
    }

    /// Called by the pool when a connection is ready or could not be made.
    func upstreamConnected(_ result: Result<UpstreamConnection, any Error>, generation expected: Int) {
        guard machine.state == .connecting, expected == generation else {
            // The request this was for has ended (timeout, client gone): the connection goes back.
            if case .success(let c) = result { c.pool?.release(c, reusable: c.isUsable) }
            return
        }
        switch result {
        case .success(let c):
            attach(c)
        case .failure(let e):
            request.attempts += 1
            let reason = "connect to \(request.pool?.spec.key ?? "?") failed: \(e)"
            request.errorReason = reason
            // Nothing was sent: another endpoint may take the request.
            if let route = request.route, request.attempts < snapshot.groups[route.upstreamIndex].endpoints.count,
                loop.pickEndpoint(snapshot.groups[route.upstreamIndex], in: snapshot, now: .now(), excluding: request.pool) != nil
            {
                return proceed()
            }
            refuse(Refusal(.INTEGRATION_FAILURE, reason: reason))
        }
    }

    /// A pooled connection the upstream had closed: the request never reached it, so it is
    /// retried once on a fresh connection to the same endpoint.
    func retryOnFreshConnection() {
        guard let pool = request.pool else { return refuse(Refusal(.INTEGRATION_FAILURE, reason: "retry without pool")) }
        request.attempts = 1
        pool.idle.removeAll { !$0.isUsable }
        acquire(from: pool)
    }

    /// Phase: write the upstream request head, then stream the body.
    func attach(_ c: UpstreamConnection) {
        guard let h = request.head, let route = request.route, let pool = request.pool else { return }
        request.upstream = c
        machine.upstreamAttached()
        c.begin(method: h.method, delegate: self)
        func writeHead(into out: inout ByteBuffer) {
            UpstreamRequestWriter.write(
                head: h, route: route, restStart: request.restStart, hostHeader: pool.spec.hostHeader, proto: listener.scheme,
                clientText: peerText, trustedPeer: snapshot.isTrusted(peerIP), requestID: request.id, identity: request.identity,
                clientCert: (cachedView?.forwardClientCert ?? false) ? clientCertHeaders : [], into: &out)
        }
        let atTurnEnd = loop.batchesUpstreamFlushes && h.framing == .none
        if atTurnEnd {
            // Sent with the other heads of this loop turn (`LoopContext.sendUpstreamHeadAtTurnEnd`).
            loop.sendUpstreamHeadAtTurnEnd(c, writeHead)
        } else if loop.batchesUpstreamFlushes {
            // A head with a body follows at once; the loop's scratch holds this turn's other heads.
            var head = ByteBufferAllocator().buffer(capacity: 512)
            writeHead(into: &head)
            c.write(head)
        } else {
            loop.requestHeadScratch.clear()
            writeHead(into: &loop.requestHeadScratch)
            c.write(loop.requestHeadScratch)
        }
        switch h.framing {
        case .length(let n): request.bodyRemaining = n
        case .chunked: request.bodyDecoder = ChunkedDecoder()
        default: break
        }
        if h.expectContinue && h.framing != .none && !request.continueSent {
            // The gateway answers Expect itself once the request is admitted (as nginx does).
            sendContinue()
        }
        if !machine.requestBodyDone { pumpBody() }
        upstreamDirty = false
        if !atTurnEnd { c.flush() }
        resumeReading()
    }

    /// Moves body bytes from `inbound` to the upstream as far as they go.
    func pumpBody() {
        guard let u = request.upstream, var buf = inbound, buf.readableBytes > 0, let h = request.head else { return }
        switch h.framing {
        case .length:
            let n = Int(min(Int64(buf.readableBytes), request.bodyRemaining))
            let slice = buf.readSlice(length: n)!
            inbound = buf
            request.bodyRemaining -= Int64(n)
            u.write(slice)
            if request.bodyRemaining == 0 { machine.requestBodyFinished() }
        case .chunked:
            let n: Int
            do { n = try request.bodyDecoder.consume(buf) } catch {
                return abortBody(Refusal(.BAD_REQUEST, reason: "invalid chunked request body", closeConnection: true))
            }
            if request.bodyDecoder.payloadBytes > request.bodyLimit {
                return abortBody(Refusal(.REQUEST_TOO_LARGE, reason: "request body over \(request.bodyLimit) bytes", closeConnection: true))
            }
            let slice = buf.readSlice(length: n)!
            inbound = buf
            u.write(slice)
            if request.bodyDecoder.isDone { machine.requestBodyFinished() }
        default:
            machine.requestBodyFinished()
        }
        if machine.requestBodyDone {
            upstreamDirty = false
            u.flush()
        } else {
            upstreamDirty = true
        }
    }

    /// The request body cannot be forwarded (too large, malformed): drop the upstream exchange,
    /// answer if no response has started, and close.
    private func abortBody(_ refusal: Refusal) {
        dropUpstream()
        request.errorReason = refusal.reason
        switch machine.requestBodyAborted() {
        case .answer(let keepAlive):
            answer(refusal, keepAlive: keepAlive)
        case let other:
            logRequest()
            perform(other)
        }
    }
}
