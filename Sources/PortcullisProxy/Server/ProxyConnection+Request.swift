import NIOCore
import PortcullisAuth
import PortcullisConfig
import PortcullisCore
import PortcullisTLS

extension ProxyConnection {
    /// Phase: route, then limits, then the route's authorizer chain.
    func startRequest(_ h: HTTPRequestHead) {
        requestID = loop.random.requestID()
        started = .now()
        head = h
        phase = .preparing
        requestGeneration &+= 1
        keepAliveAfter = h.keepAlive && !loop.draining && !inputClosed
        requestBodyDone = h.framing == .none
        guard let router = currentRouter() else {
            return refuse(Refusal(.MISSING_AUTHENTICATION_TOKEN, reason: "no APIs on listener \(listener.name)"))
        }
        let match = h.headers.raw.withUnsafeReadableBytes { p -> RouteMatch in
            let path = UnsafeRawBufferPointer(rebasing: p[Int(h.targetStart)..<Int(h.targetStart + h.pathLength)])
            if let problem = PathSafety.problem(in: path) { return .unsafePath(problem) }
            var host = UnsafeRawBufferPointer(start: nil, count: 0)
            if h.authorityStart >= 0 {
                // An absolute-form target names the host; the Host header is ignored (RFC 9112 §3.2.2).
                host = Self.hostWithoutPort(UnsafeRawBufferPointer(rebasing: p[Int(h.authorityStart)..<Int(h.authorityStart + h.authorityLength)]))
            } else {
                for f in h.headers.fields where f.kind == .host {
                host = Self.hostWithoutPort(UnsafeRawBufferPointer(rebasing: p[Int(f.valueStart)..<Int(f.valueStart + f.valueLength)]))
                break
                }
            }
            return router.route(host: host, path: path, method: h.method)
        }
        switch match {
        case .unsafePath(let why):
            return refuse(Refusal(.BAD_REQUEST, reason: why))
        case .notFound(let api):
            self.api = api
            if api?.config.notFound == .http {
                return refuse(Refusal(.NOT_FOUND, reason: "no route for \(h.method.name) \(h.path)"))
            }
            return refuse(Refusal(.MISSING_AUTHENTICATION_TOKEN, reason: "no route for \(h.method.name) \(h.path)"))
        case .matched(let api, let route, let params, let restStart):
            self.api = api
            self.route = route
            self.restStart = restStart
            self.params = params
            bodyLimit = route.maxBodyBytes ?? snapshot.limits.maxBodyBytes
            if case .length(let n) = h.framing, n > bodyLimit {
                return refuseTooLarge()
            }
            if route.auth.isOpen { return proceed() }
            let request = AuthRequest(
                head: h, clientIP: clientIP(h), requestID: requestID.string, resourcePath: route.template,
                pathParameters: pathParameters(h), api: api.apiRef, clientCertificate: tls?.clientCertificate)
            switch route.auth.evaluate(request, on: loop.loop) {
            case .decided(let d): authorized(d)
            case .pending(let future):
                let generation = requestGeneration
                future.whenComplete { [self] result in
                    guard phase == .preparing, generation == requestGeneration else { return }
                    switch result {
                    case .success(let d): authorized(d)
                    case .failure(let e): refuse(Refusal(.AUTHORIZER_FAILURE, reason: "authorizer failed: \(e)"))
                    }
                }
            }
        }
    }

    private func currentRouter() -> Router? {
        if let c = cachedView, c.snapshot === snapshot { return c.router }
        guard let r = snapshot.routers[listener.name] else { return nil }
        cachedView = (snapshot, r, snapshot.forwardClientCert.contains(listener.name))
        return r
    }

    private func authorized(_ d: AuthDecision) {
        switch d {
        case .allow(let id):
            identity = id
            proceed()
        case .refuse(let r):
            refuse(r)
        }
    }

    /// The client address: the peer, or the nearest untrusted hop of X-Forwarded-For when the peer
    /// is a trusted proxy.
    func clientIP(_ h: HTTPRequestHead) -> IPAddress? {
        guard snapshot.isTrusted(peerIP), let xff = h.headers.first(.xForwardedFor) else { return peerIP }
        for part in xff.split(separator: ",").reversed() {
            guard let ip = IPAddress(part.trimmingSpaces) else { return peerIP }
            if !snapshot.isTrusted(ip) { return ip }
        }
        return peerIP
    }

    /// The host part of a Host header value: `[v6]` kept whole, a trailing `:port` dropped.
    static func hostWithoutPort(_ v: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var end = v.count
        if v.first == UInt8(ascii: "[") {
            if let close = v.firstIndex(of: UInt8(ascii: "]")) { end = close + 1 }
        } else if let colon = v.lastIndex(of: UInt8(ascii: ":")) {
            end = colon
        }
        return UnsafeRawBufferPointer(rebasing: v[0..<end])
    }

    /// Path parameters as Strings, made only for phases that read them.
    func pathParameters(_ h: HTTPRequestHead) -> [(String, String)] {
        guard !params.isEmpty else { return [] }
        return h.headers.raw.withUnsafeReadableBytes { p in
            params.map { ($0.name, String(decoding: p[Int(h.targetStart) + $0.start..<Int(h.targetStart) + $0.end], as: UTF8.self)) }
        }
    }

    // MARK: Upstream

    /// Phase: pick an endpoint and get a connection from this loop's pool.
    func proceed() {
        guard let route, route.upstreamIndex >= 0 else {
            return refuse(Refusal(.API_CONFIGURATION_ERROR, reason: "route has no upstream"))
        }
        let g = snapshot.groups[route.upstreamIndex]
        group = g
        guard let p = loop.pickEndpoint(g, in: snapshot, now: .now(), excluding: attempts > 0 ? pool : nil) else {
            return refuse(Refusal(.SERVICE_UNAVAILABLE, reason: "no healthy endpoint in upstream \(g.name)"))
        }
        pool = p
        responseDeadline = .now() + (route.timeout.map(TimeAmount.init) ?? g.timeout)
        upstreamStarted = .now()
        switch p.acquire(for: .init(connection: self, generation: requestGeneration)) {
        case .ready(let c):
            reusedConnection = true
            attach(c)
        case .pending:
            reusedConnection = false
        }
    }

    /// Called by the pool when a connection is ready or could not be made.
    func upstreamConnected(_ result: Result<UpstreamConnection, any Error>, generation: Int) {
        guard phase == .preparing, generation == requestGeneration else {
            // The request this was for has ended (timeout, client gone): the connection goes back.
            if case .success(let c) = result { c.pool?.release(c, reusable: c.isUsable) }
            return
        }
        switch result {
        case .success(let c):
            attach(c)
        case .failure(let e):
            attempts += 1
            errorReason = "connect to \(pool?.spec.key ?? "?") failed: \(e)"
            // Nothing was sent: another endpoint may take the request.
            if let g = group, attempts < g.endpoints.count,
                loop.pickEndpoint(g, in: snapshot, now: .now(), excluding: pool) != nil
            {
                return proceed()
            }
            refuse(Refusal(.INTEGRATION_FAILURE, reason: errorReason!))
        }
    }

    /// Phase: write the upstream request head, then stream the body.
    func attach(_ c: UpstreamConnection) {
        guard let h = head, let route, let pool else { return }
        upstream = c
        phase = .exchanging
        responseHeadSent = false
        c.begin(method: h.method, delegate: self)
        requestHeadScratch.clear()
        UpstreamRequestWriter.write(
            head: h, route: route, restStart: restStart, hostHeader: pool.spec.hostHeader, proto: listener.scheme,
            clientText: peerText, trustedPeer: snapshot.isTrusted(peerIP), requestID: requestID, identity: identity,
            clientCert: (cachedView?.forwardClientCert ?? false) ? clientCertHeaders : [], into: &requestHeadScratch)
        c.write(requestHeadScratch)
        switch h.framing {
        case .length(let n): bodyRemaining = n
        case .chunked: bodyDecoder = ChunkedDecoder()
        default: break
        }
        if h.expectContinue && h.framing != .none {
            // The gateway answers Expect itself once the request is admitted (as nginx does).
            var b = context.channel.allocator.buffer(capacity: 25)
            b.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
            context.writeAndFlush(wrapOutboundOut(b), promise: nil)
        }
        if !requestBodyDone { _ = pumpBody() }
        upstreamDirty = false
        c.flush()
        resumeReading()
    }

    /// Moves body bytes from `inbound` to the upstream; true when the body is complete.
    @discardableResult
    func pumpBody() -> Bool {
        guard let u = upstream, var buf = inbound, buf.readableBytes > 0, let h = head else { return requestBodyDone }
        switch h.framing {
        case .length:
            let n = Int(min(Int64(buf.readableBytes), bodyRemaining))
            let slice = buf.readSlice(length: n)!
            inbound = buf
            bodyRemaining -= Int64(n)
            u.write(slice)
            if bodyRemaining == 0 { requestBodyDone = true }
        case .chunked:
            let n: Int
            do { n = try bodyDecoder.consume(buf) } catch {
                return abortBody(Refusal(.BAD_REQUEST, reason: "invalid chunked request body", closeConnection: true))
            }
            if bodyDecoder.payloadBytes > bodyLimit { return abortBody(nil) }
            let slice = buf.readSlice(length: n)!
            inbound = buf
            u.write(slice)
            if bodyDecoder.isDone { requestBodyDone = true }
        default:
            requestBodyDone = true
        }
        if requestBodyDone {
            upstreamDirty = false
            u.flush()
        } else {
            upstreamDirty = true
        }
        return requestBodyDone
    }

    /// The request body cannot be forwarded (too large, malformed): drop the upstream exchange,
    /// answer if no response has started, and close.
    private func abortBody(_ refusal: Refusal?) -> Bool {
        keepAliveAfter = false
        requestBodyDone = true
        if let u = upstream {
            upstream = nil
            u.delegate = nil
            pool?.release(u, reusable: false)
        }
        if responseHeadSent {
            errorReason = refusal?.reason ?? "request body over \(bodyLimit) bytes"
            closeAfterFlush()
            return false
        }
        if let refusal { refuse(refusal) } else { refuseTooLarge() }
        return false
    }

    // MARK: Refusals

    /// Answers from the gateway and ends the request.
    func refuse(_ refusal: Refusal) {
        guard phase != .closed else { return }
        let responder = api?.responder ?? snapshot.responder
        if refusal.closeConnection || loop.draining || !requestBodyDone && !discardBufferedBody() { keepAliveAfter = false }
        var out = context.channel.allocator.buffer(capacity: 512)
        responder.render(refusal, requestID: requestID, keepAlive: keepAliveAfter, into: &out)
        status = responder.resolve(refusal.type).status
        bytesSent = out.readableBytes
        errorReason = refusal.reason
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        finishRequest()
    }

    func refuseTooLarge() {
        keepAliveAfter = false
        var out = context.channel.allocator.buffer(capacity: 256)
        GatewayResponder.renderBodyTooLarge(limit: bodyLimit, requestID: requestID, into: &out)
        status = 413
        bytesSent = out.readableBytes
        errorReason = "request body over \(bodyLimit) bytes"
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        finishRequest()
    }

    /// A refused request's body can be skipped if it is a Content-Length body already buffered;
    /// otherwise the connection must close, since the next request would start mid-body.
    private func discardBufferedBody() -> Bool {
        guard let h = head, case .length(let n) = h.framing, var buf = inbound, Int64(buf.readableBytes) >= n else {
            return false
        }
        buf.moveReaderIndex(forwardBy: Int(n))
        inbound = buf
        requestBodyDone = true
        return true
    }
}

extension StringProtocol {
    var trimmingSpaces: Substring {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return s
    }
}
