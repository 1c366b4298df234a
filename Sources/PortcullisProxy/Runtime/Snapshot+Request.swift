import NIOCore
import PortcullisAuth
import PortcullisConfig
import PortcullisCore
import PortcullisTLS

/// What a connection derives from the snapshot and a parsed head before and after the admission
/// phases: the routing refusals, the body limit, the client address, the request the phases look
/// at, and the rendered gateway response. `ProxyConnection` and `portcullis explain` both call
/// these, so explain runs the server's code rather than a copy of it (docs/ARCHITECTURE.md,
/// "Explaining a decision"). Nothing here adds work to a request: each was inline before.
extension Snapshot {
    /// A listener that serves no API.
    static func noAPIs(on listener: String) -> Refusal {
        Refusal(.MISSING_AUTHENTICATION_TOKEN, reason: "no APIs on listener \(listener)")
    }

    /// The answer for a routing result that is not a match; nil for a match.
    static func refusal(for match: RouteMatch, _ h: HTTPRequestHead) -> Refusal? {
        switch match {
        case .unsafePath(let why):
            return Refusal(.BAD_REQUEST, reason: why)
        case .notFound(let api):
            let type: GatewayResponseType = api?.config.notFound == .http ? .NOT_FOUND : .MISSING_AUTHENTICATION_TOKEN
            return Refusal(type, reason: "no route for \(h.method.name) \(h.path)")
        case .matched:
            return nil
        }
    }

    /// The largest body the route takes.
    func bodyLimit(for route: CompiledRoute) -> Int64 {
        route.maxBodyBytes ?? limits.maxBodyBytes
    }

    /// A declared body over the limit is refused before admission.
    static func bodyTooLarge(_ h: HTTPRequestHead, limit: Int64) -> Refusal? {
        guard case .length(let n) = h.framing, n > limit else { return nil }
        return Refusal(.REQUEST_TOO_LARGE, reason: "request body over \(limit) bytes", closeConnection: true)
    }

    /// What the phases may know of a listener.
    func facts(forListener name: String) -> AuthRequest.ListenerFacts {
        listenerFacts[name] ?? AuthRequest.ListenerFacts(name: name)
    }

    /// The client address: the peer, or the nearest untrusted hop of X-Forwarded-For when the peer
    /// is a trusted proxy.
    func clientIP(_ h: HTTPRequestHead, peer: IPAddress?) -> IPAddress? {
        guard isTrusted(peer), let xff = h.headers.first(.xForwardedFor) else { return peer }
        for part in xff.split(separator: ",").reversed() {
            guard let ip = IPAddress(part.trimmingSpaces) else { return peer }
            if !isTrusted(ip) { return ip }
        }
        return peer
    }

    /// The responder of the request's API, or the global one before an API is known.
    func responder(for api: CompiledAPI?) -> GatewayResponder {
        api?.responder ?? responder
    }

    /// Writes the gateway response for `refusal` into `out` and returns its status. The
    /// body-too-large answer is API Gateway's fixed plain-text one; every other type goes through
    /// the responder and its overrides.
    func render(
        _ refusal: Refusal, api: CompiledAPI?, bodyLimit: Int64, requestID: RequestID, keepAlive: Bool, into out: inout ByteBuffer
    ) -> (status: Int, bodyBytes: Int) {
        if refusal.type == .REQUEST_TOO_LARGE {
            return (413, GatewayResponder.renderBodyTooLarge(limit: bodyLimit, requestID: requestID, into: &out))
        }
        let responder = responder(for: api)
        let bodyBytes = responder.render(refusal, requestID: requestID, keepAlive: keepAlive, into: &out)
        return (responder.resolve(refusal.type).status, bodyBytes)
    }
}

extension AuthRequest {
    /// The request the admission phases of a matched route look at: built once per request, by
    /// the connection and by `portcullis explain` alike.
    init(
        admitting h: HTTPRequestHead, api: CompiledAPI, route: CompiledRoute, params: [ParamRange], clientIP: IPAddress?,
        id: RequestID, clientCertificate: ClientCertificate?, payloadHash: String?, listener: AuthRequest.ListenerFacts,
        secureTransport: Bool
    ) {
        self.init(
            head: h, clientIP: clientIP, id: id, resourcePath: route.template, pathParameters: params, api: api.apiRef,
            clientCertificate: clientCertificate, payloadHash: payloadHash, listener: listener, secureTransport: secureTransport)
    }
}
