import Foundation
import Logging
import NIOCore
import NIOPosix
import PortcullisAuth
public import PortcullisConfig
import PortcullisCore
import PortcullisThrottle

/// One request as `portcullis explain` takes it from the command line.
public struct ExplainRequest: Sendable {
    public var method: String
    /// `http://host:port/path?query`, or a path (`/demo/items/1?x=y`).
    public var url: String
    public var headers: [(String, String)]
    /// The client address the request comes from.
    public var from: String
    /// The listener it arrives on; nil: the config's first.
    public var listener: String?
    /// A body (its hash is what SigV4 signs); nil: none.
    public var body: [UInt8]?
    /// Call remote key sets and external authorizers; otherwise a phase that would call is left
    /// undecided.
    public var online: Bool

    public init(
        method: String, url: String, headers: [(String, String)] = [], from: String = "127.0.0.1", listener: String? = nil,
        body: [UInt8]? = nil, online: Bool = false
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.from = from
        self.listener = listener
        self.body = body
        self.online = online
    }
}

/// A request explain cannot make (an unknown listener, a malformed URL or address).
public struct ExplainError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// `portcullis explain`: a request through the server's own code without a socket. The snapshot
/// is the one the server compiles, routing is the server's `Router`, the phases' request is built
/// by the function the connection calls, the phases are the route's `AdmissionStep`s run one by
/// one, and the answer is rendered by the same `GatewayResponder` (docs/ARCHITECTURE.md,
/// "Explaining a decision"). Nothing is forwarded.
public enum Explainer {
    public static func explain(_ config: PortcullisConfig, _ request: ExplainRequest) throws -> Explanation {
        guard let listener = Self.listener(for: request, in: config) else {
            throw ExplainError(
                "no listener \(request.listener ?? "") in the config; listeners: \(config.listeners.map(\.name).joined(separator: ", "))")
        }
        guard let peer = IPAddress(request.from) else { throw ExplainError("--from \(request.from) is not an IP address") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        var logger = Logger(label: "portcullis.explain")
        logger.logLevel = .critical
        let environment = AuthEnvironment(group: request.online ? group : nil, logger: logger, online: request.online)
        let snapshot = try Snapshot(config, environment: environment, usage: usageState(config))

        var out = Explanation()
        out.listener = listener.name
        out.listenerAddress = listener.host.contains(":") ? "[\(listener.host)]:\(listener.port)" : "\(listener.host):\(listener.port)"
        out.method = request.method
        out.client = "\(peer)"
        let requestID = RequestID(hi: UInt64.random(in: 0...UInt64.max) & ~0xF000 | 0x4000, lo: UInt64.random(in: 0...UInt64.max) >> 2 | 1 << 63)

        // The head, as the connection parses it.
        let raw = try headBytes(request, host: out.listenerAddress)
        if raw.readableBytes > snapshot.limits.maxHeadBytes {
            return refused(ProxyConnection.headTooLarge(snapshot.limits.maxHeadBytes), out, snapshot, api: nil, bodyLimit: 0, requestID)
        }
        var fields: [HeaderField] = []
        let h: HTTPRequestHead
        do {
            h = try HeadParser.parseRequest(raw, limits: snapshot.headLimits, reusing: &fields)
        } catch {
            return refused(ProxyConnection.refusal(for: error), out, snapshot, api: nil, bodyLimit: 0, requestID)
        }
        out.path = h.path

        // Routing, as `ProxyConnection.startRequest`.
        guard let router = snapshot.routers[listener.name] else {
            return refused(Snapshot.noAPIs(on: listener.name), out, snapshot, api: nil, bodyLimit: 0, requestID)
        }
        let match = ProxyConnection.route(h, with: router)
        guard case .matched(let api, let route, let params, let restStart) = match else {
            var notFoundAPI: CompiledAPI? = nil
            if case .notFound(let a) = match { notFoundAPI = a }
            if let a = notFoundAPI { describe(a, into: &out) }
            return refused(Snapshot.refusal(for: match, h)!, out, snapshot, api: notFoundAPI, bodyLimit: 0, requestID)
        }
        describe(api, into: &out)
        out.route = route.template
        out.parameters = h.headers.raw.withUnsafeReadableBytes { p in
            params.map { ($0.name, String(decoding: p[Int(h.targetStart) + $0.start..<Int(h.targetStart) + $0.end], as: UTF8.self)) }
        }
        let bodyLimit = snapshot.bodyLimit(for: route)
        if let tooLarge = Snapshot.bodyTooLarge(h, limit: bodyLimit) {
            return refused(tooLarge, out, snapshot, api: api, bodyLimit: bodyLimit, requestID)
        }
        // A route whose phases read the body gets its hash, as `ProxyConnection.bufferBody` makes it.
        let payloadHash = route.needsBody && h.framing != .none ? SigV4.hexSHA256(request.body ?? []) : nil
        let subject = AuthRequest(
            admitting: h, api: api, route: route, params: params, clientIP: snapshot.clientIP(h, peer: peer), id: requestID,
            clientCertificate: nil, payloadHash: payloadHash, listener: snapshot.facts(forListener: listener.name),
            secureTransport: listener.tls != nil)
        out.client = subject.clientIP.map { "\($0)" + ($0 != peer ? " (from X-Forwarded-For; peer \(peer), a trusted proxy)" : "") } ?? "unknown"

        let remoteKeySets = Self.remoteKeySets(config)
        let loop = group.next()
        let online = request.online
        let (admitted, phases) = try loop.flatSubmit {
            ExplainRun(phases: route.phases, request: subject, online: online, remoteKeySets: remoteKeySets, loop: loop).run(from: 0)
        }.wait()
        out.phases = phases.records
        switch admitted {
        case .undecided(let call):
            out.verdict = .undecidedOffline
            out.wouldCall = call
            return out
        case .refused(let refusal):
            return refused(refusal, out, snapshot, api: api, bodyLimit: bodyLimit, requestID)
        case .admitted(let identity):
            return forwarded(
                h, route: route, restStart: restStart, identity: identity, listener: listener, peer: peer, out, snapshot, api: api,
                bodyLimit: bodyLimit, requestID)
        }
    }

    /// The listener a request arrives on: the one named; else the one on the URL's port (a request
    /// to http://host:8090/ arrives on the listener of port 8090, whatever its order in the file;
    /// the scheme's port when the URL names none), the URL's host choosing among listeners that
    /// share the port; else, for a path or a port no listener has, the config's first.
    static func listener(for r: ExplainRequest, in config: PortcullisConfig) -> ListenerConfig? {
        if let name = r.listener { return config.listeners.first { $0.name == name } }
        if let (host, port) = authority(of: r.url) {
            let onPort = config.listeners.filter { $0.port == port }
            if let l = onPort.first(where: { $0.host == host }) ?? onPort.first { return l }
        }
        return config.listeners.first
    }

    /// Host and port of an `http://` or `https://` URL (the scheme's port when it names none);
    /// nil for a path.
    static func authority(of url: String) -> (host: String, port: Int)? {
        for (scheme, defaultPort) in [("http://", 80), ("https://", 443)] where url.lowercased().hasPrefix(scheme) {
            let rest = url.dropFirst(scheme.count)
            let hostPort = rest[..<(rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex)]
            // [v6]:port, host:port, or either without a port.
            let portStart = hostPort.lastIndex(of: ":").flatMap { colon in hostPort[colon...].contains("]") ? nil : colon }
            let host = (portStart.map { hostPort[..<$0] } ?? hostPort[...]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            guard let portStart else { return (host, defaultPort) }
            guard let port = Int(hostPort[hostPort.index(after: portStart)...]) else { return nil }
            return (host, port)
        }
        return nil
    }

    /// The request's head bytes: the request line, Host (from the URL, a header, or the
    /// listener's address), the headers given, and Content-Length for a body.
    static func headBytes(_ r: ExplainRequest, host listenerHost: String) throws -> ByteBuffer {
        var target = r.url
        var host: String? = nil
        for scheme in ["http://", "https://"] where r.url.lowercased().hasPrefix(scheme) {
            let rest = r.url.dropFirst(scheme.count)
            let end = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            host = String(rest[..<end])
            target = String(rest[end...])
            if target.isEmpty || target.first == "?" { target = "/" + target }
        }
        guard target.hasPrefix("/") else { throw ExplainError("the URL must be http://host[:port]/path or a path starting with /, not \(r.url)") }
        guard !r.method.isEmpty, r.method.allSatisfy({ $0.isLetter || $0 == "-" }) else { throw ExplainError("\(r.method) is not an HTTP method") }
        let given = Set(r.headers.map { $0.0.lowercased() })
        var text = "\(r.method) \(target) HTTP/1.1\r\n"
        if !given.contains("host") { text += "Host: \(host ?? listenerHost)\r\n" }
        for (k, v) in r.headers { text += "\(k): \(v)\r\n" }
        if let body = r.body, !given.contains("content-length"), !given.contains("transfer-encoding") {
            text += "Content-Length: \(body.count)\r\n"
        }
        return ByteBuffer(string: text + "\r\n")
    }

    static func describe(_ api: CompiledAPI, into out: inout Explanation) {
        out.api = api.config.name
        out.apiID = api.apiRef.id
        out.stage = api.apiRef.stage
    }

    /// The answer to a refused request, rendered by the connection's own function and read back.
    static func refused(
        _ refusal: Refusal, _ explained: Explanation, _ snapshot: Snapshot, api: CompiledAPI?, bodyLimit: Int64, _ id: RequestID
    ) -> Explanation {
        var out = explained
        var bytes = ByteBuffer()
        out.status = snapshot.render(refusal, api: api, bodyLimit: bodyLimit, requestID: id, keepAlive: true, into: &bytes).status
        let text = String(buffer: bytes)
        let parts = text.components(separatedBy: "\r\n\r\n")
        let routine: Set<String> = ["content-type", "content-length", "x-amzn-requestid", "x-amz-apigw-id"]
        for line in parts[0].components(separatedBy: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name.lowercased() == "x-amzn-errortype" { out.errorType = value }
            if !routine.contains(name.lowercased()) { out.responseHeaders.append((name, value)) }
        }
        out.body = parts.dropFirst().joined(separator: "\r\n\r\n")
        out.verdict = .refused
        out.gatewayResponse = refusal.type.rawValue
        out.reason = refusal.reason
        return out
    }

    /// An admitted request: what the connection would write to the upstream (its first endpoint;
    /// the server balances among them), by the connection's own writer.
    static func forwarded(
        _ h: HTTPRequestHead, route: CompiledRoute, restStart: Int, identity: Identity?, listener: ListenerConfig, peer: IPAddress,
        _ explained: Explanation, _ snapshot: Snapshot, api: CompiledAPI, bodyLimit: Int64, _ id: RequestID
    ) -> Explanation {
        var out = explained
        guard route.upstreamIndex >= 0, let endpoint = snapshot.groups[route.upstreamIndex].endpoints.first else {
            return refused(Refusal(.API_CONFIGURATION_ERROR, reason: "route has no upstream"), out, snapshot, api: api, bodyLimit: bodyLimit, id)
        }
        var bytes = ByteBuffer()
        UpstreamRequestWriter.write(
            head: h, route: route, restStart: restStart, hostHeader: endpoint.hostHeader, proto: listener.tls != nil ? "https" : "http",
            clientText: "\(peer)", trustedPeer: snapshot.isTrusted(peer), requestID: id, identity: identity, clientCert: [], into: &bytes)
        let sent = String(buffer: bytes).components(separatedBy: "\r\n").filter { !$0.isEmpty }
        let received = String(buffer: h.headers.raw).components(separatedBy: "\r\n").dropFirst().filter { !$0.isEmpty }
        let group = snapshot.groups[route.upstreamIndex]
        out.verdict = .admitted
        out.upstream = group.name
        out.endpoint = endpoint.key + (group.endpoints.count > 1 ? " (the first of \(group.endpoints.count); the server balances them, \(group.balance.rawValue))" : "")
        out.upstreamRequest = sent
        out.addedHeaders = sent.dropFirst().filter { !received.contains($0) }
        // Names only: a removed header may be a credential.
        let kept = Set(sent.dropFirst())
        out.removedHeaders = received.filter { !kept.contains($0) && !$0.lowercased().hasPrefix("host:") }.map { String($0.prefix { $0 != ":" }) }
        return out
    }

    /// JWT authorizers whose key set is remote, and where it is: offline they are never fetched.
    static func remoteKeySets(_ config: PortcullisConfig) -> [String: String] {
        var out: [String: String] = [:]
        for (name, a) in config.authorizers {
            guard case .jwt(let j) = a.kind else { continue }
            switch j.keySource {
            case .discovery(let issuer): out[name] = "\(issuer) (OIDC discovery)"
            case .jwksURL(let url): out[name] = url
            default: break
            }
        }
        return out
    }

    /// Quota counts as the server would seed them: from the state store when one exists (read,
    /// never written: explain counts nothing there).
    static func usageState(_ config: PortcullisConfig) -> UsageState {
        guard let dir = config.stateDir, FileManager.default.fileExists(atPath: dir + "/quota.sqlite"),
            let store = try? SQLiteQuotaStore(path: dir + "/quota.sqlite")
        else { return UsageState() }
        return UsageState(store: store)
    }
}

/// The route's phases, one at a time, on one event loop: each phase's own `admit`, with the
/// identity handed on as the admission driver hands it on. Confined to `loop`.
final class ExplainRun {
    enum Ending: Sendable {
        case admitted(Identity?)
        case refused(Refusal)
        case undecided(String)
    }
    struct Records: Sendable { var records: [Explanation.Phase] = [] }

    let phases: [AdmissionStep]
    let request: AuthRequest
    let online: Bool
    let remoteKeySets: [String: String]
    let loop: any EventLoop
    var identity: Identity?
    var records = Records()

    init(phases: [AdmissionStep], request: AuthRequest, online: Bool, remoteKeySets: [String: String], loop: any EventLoop) {
        self.phases = phases
        self.request = request
        self.online = online
        self.remoteKeySets = remoteKeySets
        self.loop = loop
    }

    func run(from start: Int) -> EventLoopFuture<(Ending, Records)> {
        var i = start
        while i < phases.count {
            let phase = phases[i]
            if !online, let call = phase.offlineCall(request, remoteKeySets: remoteKeySets, on: loop) {
                record(i, "undecided", "\(call); --online calls it")
                for j in (i + 1)..<max(i + 1, phases.count) { record(j, "not run", "") }
                return loop.makeSucceededFuture((.undecided(call), records))
            }
            let before = phase.explainBefore(request, identity: identity)
            switch phase.admit(request, identity: identity, on: loop) {
            case .now(let outcome):
                if let end = apply(outcome, i, before) { return loop.makeSucceededFuture((end, records)) }
            case .later(let future):
                let me = NIOLoopBound(self, eventLoop: loop)
                let index = i
                return future.recover { error in
                    .refuse(Refusal(.AUTHORIZER_FAILURE, reason: "authorizer failed: \(error)"))
                }.flatMap { outcome in
                    let run = me.value
                    if let end = run.apply(outcome, index, before) { return run.loop.makeSucceededFuture((end, run.records)) }
                    return run.run(from: index + 1)
                }
            }
            i += 1
        }
        return loop.makeSucceededFuture((.admitted(identity), records))
    }

    /// Applies a phase's outcome as the driver does; the ending when it refused.
    private func apply(_ outcome: PhaseOutcome, _ i: Int, _ before: String?) -> Ending? {
        let phase = phases[i]
        switch outcome {
        case .pass(let id, _):
            let after = id ?? identity
            record(i, "pass", phase.explainPass(request, identity: identity, after: after, before: before))
            identity = after
            return nil
        case .refuse(let r):
            record(i, "refuse", phase.explainRefusal(r, request, identity: identity, before: before, on: loop))
            for j in (i + 1)..<max(i + 1, phases.count) { record(j, "not run", "") }
            return .refused(r)
        }
    }

    private func record(_ i: Int, _ decision: String, _ detail: String) {
        records.records.append(Explanation.Phase(number: i + 1, title: phases[i].explainTitle, decision: decision, detail: detail))
    }
}
