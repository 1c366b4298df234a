import NIOCore
import PortcullisAuth
import PortcullisConfig
import PortcullisCore
import PortcullisTLS

extension ProxyConnection {
    /// Phase: route (listener → API by host and stage → resource by path and method), the body
    /// size limit, then the route's admission phases through one driver.
    func startRequest(_ h: HTTPRequestHead) {
        beginRequest(head: h, now: .now())
        machine.headParsed(keepAlive: h.keepAlive, hasBody: h.framing != .none, draining: loop.draining)
        guard let router = currentRouter() else { return refuse(Snapshot.noAPIs(on: listener.name)) }
        let match = Self.route(h, with: router)
        guard case .matched(let api, let route, let params, let restStart) = match else {
            if case .notFound(let api) = match { request.api = api }
            return refuse(Snapshot.refusal(for: match, h)!)
        }
        request.api = api
        request.route = route
        request.restStart = restStart
        request.params = params
        request.bodyLimit = snapshot.bodyLimit(for: route)
        if let tooLarge = Snapshot.bodyTooLarge(h, limit: request.bodyLimit) { return refuse(tooLarge) }
        if route.phases.isEmpty { return proceed() }
        if route.needsBody && h.framing != .none {
            machine.bodyBufferingStarted(deadline: .now() + snapshot.idleTimeout)
            if h.expectContinue {
                // The client waits for this before sending the body the phases need.
                request.continueSent = true
                sendContinue()
            }
            return bufferBody()
        }
        admit(payloadHash: nil)
    }

    /// Runs the route's admission phases through the driver.
    func admit(payloadHash: String?) {
        guard let h = request.head, let route = request.route, let api = request.api else { return }
        let subject = AuthRequest(
            admitting: h, api: api, route: route, params: request.params, clientIP: snapshot.clientIP(h, peer: peerIP), id: request.id,
            clientCertificate: tls?.clientCertificate, payloadHash: payloadHash,
            listener: cachedView?.facts ?? AuthRequest.ListenerFacts(name: listener.name), secureTransport: tls != nil)
        // Most routes' phases answer at once: the driver lives on the stack, and is kept in the
        // request state only when a phase must wait.
        var admission = Admission(route.phases)
        let step = admission.run(subject, on: loop.loop)
        if case .waiting = step { request.admission = WaitingAdmission(admission) }
        if snapshot.metrics && !route.authorizerPhases.isEmpty { countDecisions(step, route, decided: admission.decided) }
        if case .refused = step { noteRefusal(admission, route) }
        admissionStepped(step, subject)
    }

    /// Finds the route for a head: the path is checked for unsafe forms first, the host comes
    /// from an absolute-form target or the Host header.
    static func route(_ h: HTTPRequestHead, with router: Router) -> RouteMatch {
        h.headers.raw.withUnsafeReadableBytes { p -> RouteMatch in
            let path = UnsafeRawBufferPointer(rebasing: p[Int(h.targetStart)..<Int(h.targetStart + h.pathLength)])
            if let problem = PathSafety.problem(in: path) { return .unsafePath(problem) }
            var host = UnsafeRawBufferPointer(start: nil, count: 0)
            if h.authorityStart >= 0 {
                // An absolute-form target names the host; the Host header is ignored (RFC 9112 §3.2.2).
                host = hostWithoutPort(UnsafeRawBufferPointer(rebasing: p[Int(h.authorityStart)..<Int(h.authorityStart + h.authorityLength)]))
            } else {
                for f in h.headers.fields where f.kind == .host {
                    host = hostWithoutPort(UnsafeRawBufferPointer(rebasing: p[Int(f.valueStart)..<Int(f.valueStart + f.valueLength)]))
                    break
                }
            }
            return router.route(host: host, path: path, method: h.method)
        }
    }

    /// Carries out one step of the admission driver. A waiting phase's answer comes back on this
    /// loop; if the request has ended meanwhile (client gone, timeout), the answer is not applied
    /// and whatever the phase took is given back.
    private func admissionStepped(_ step: Admission<AdmissionStep>.Step, _ subject: AuthRequest) {
        switch step {
        case .admitted(let identity):
            request.identity = identity
            request.admission = nil
            proceed()
        case .refused(let refusal):
            request.admission = nil
            refuse(refusal)
        case .waiting(let future):
            let expected = generation
            future.whenComplete { [self] result in
                let outcome: PhaseOutcome
                switch result {
                case .success(let o): outcome = o
                case .failure(let e): outcome = .refuse(Refusal(.AUTHORIZER_FAILURE, reason: "authorizer failed: \(e)"))
                }
                guard expected == generation, machine.state == .admitting, request.admission != nil else {
                    if case .pass(_, let undo?) = outcome { undo.run() }
                    return
                }
                let step = request.admission!.driver.resume(outcome, subject, on: loop.loop)
                if snapshot.metrics, let route = request.route, !route.authorizerPhases.isEmpty {
                    countDecisions(step, route, decided: request.admission!.driver.decided)
                }
                if case .refused = step, let route = request.route { noteRefusal(request.admission!.driver, route) }
                admissionStepped(step, subject)
            }
        }
    }

    /// For the access log: who the caller was as far as admission got (a throttled request's key,
    /// a principal the resource policy refused), and whether an `auth:` entry refused.
    private func noteRefusal(_ admission: Admission<AdmissionStep>, _ route: CompiledRoute) {
        request.identity = admission.identity
        if admission.decided >= 0, admission.decided < route.phases.count, case .authorize = route.phases[admission.decided] {
            request.authorizerRefused = true
        }
    }

    /// Counts what each `auth:` entry decided, once admission is over: the entries before the
    /// phase that refused allowed, that one refused (by its status), later ones never ran.
    private func countDecisions(_ step: Admission<AdmissionStep>.Step, _ route: CompiledRoute, decided: Int) {
        switch step {
        case .waiting: return
        case .admitted:
            for a in route.authorizerPhases { loop.metrics.recordDecision(slot: a.slot, .allow) }
        case .refused(let refusal):
            for a in route.authorizerPhases {
                if a.phase < decided { loop.metrics.recordDecision(slot: a.slot, .allow) }
                else if a.phase == decided { loop.metrics.recordDecision(slot: a.slot, AuthorizerOutcome(refusal.type)) }
                else { break }
            }
        }
    }

    private func currentRouter() -> Router? {
        if let c = cachedView, c.snapshot === snapshot { return c.router }
        guard let r = snapshot.routers[listener.name] else { return nil }
        cachedView = (
            snapshot, r, snapshot.forwardClientCert.contains(listener.name),
            snapshot.facts(forListener: listener.name)
        )
        return r
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
}

extension StringProtocol {
    var trimmingSpaces: Substring {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return s
    }
}
