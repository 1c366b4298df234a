import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import PortcullisAuth
import PortcullisConfig
import PortcullisThrottle
import PortcullisTLS

/// The admin listener (`admin:`), apart from the traffic listeners: `/healthz` (the process
/// answers), `/readyz` (listeners bound, key sets loaded, quota store writable) and `/metrics`
/// (Prometheus text). It uses NIO's stock HTTP/1.1 pipeline: it is not the hot path. With a
/// `token`, every request needs `Authorization: Bearer TOKEN` (401 otherwise).
final class AdminHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: PortcullisServer
    private var head: NIOHTTP1.HTTPRequestHead?

    init(server: PortcullisServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let h = head else { return }
            head = nil
            handle(h, context: context)
        }
    }

    private func handle(_ h: NIOHTTP1.HTTPRequestHead, context: ChannelHandlerContext) {
        let keepAlive = h.isKeepAlive
        if let token = server.adminToken, !Self.authorized(h.headers.first(name: "authorization"), token: token) {
            return respond(context, .unauthorized, "admin token required: Authorization: Bearer TOKEN\n", keepAlive: keepAlive,
                           extra: [("WWW-Authenticate", "Bearer")])
        }
        let parts = h.uri.split(separator: "?", maxSplits: 1)
        let path = parts.first.map(String.init) ?? h.uri
        let query = parts.count > 1 ? String(parts[1]) : ""
        if path == "/cache/flush" {
            guard h.method == .POST else {
                return respond(context, .methodNotAllowed, "POST /cache/flush[?authorizer=NAME]\n", keepAlive: keepAlive, extra: [("Allow", "POST")])
            }
            let name = query.split(separator: "&").first { $0.hasPrefix("authorizer=") }.map { String($0.dropFirst(11)) }
            let flushed = server.externalAuthorizers.flush(name)
            if let name, flushed.isEmpty {
                return respond(context, .notFound, "no running external authorizer with a cache named \(name)\n", keepAlive: keepAlive)
            }
            let list = flushed.map { "\"\($0)\"" }.joined(separator: ",")
            return respond(context, .ok, "{\"flushed\":[\(list)]}\n", keepAlive: keepAlive, type: "application/json")
        }
        guard h.method == .GET || h.method == .HEAD else {
            return respond(context, .methodNotAllowed, "GET only\n", keepAlive: keepAlive, extra: [("Allow", "GET, HEAD")])
        }
        switch path {
        case "/keys":
            respond(context, .ok, server.keysJSON(), keepAlive: keepAlive, type: "application/json")
        case "/config":
            respond(context, .ok, ConfigSummary.json(server.currentConfig, generation: server.generation), keepAlive: keepAlive, type: "application/json")
        case "/usage":
            usage(query, context: context, keepAlive: keepAlive)
        case "/healthz":
            respond(context, .ok, "ok\n", keepAlive: keepAlive)
        case "/readyz":
            let problems = server.readinessProblems()
            if problems.isEmpty { respond(context, .ok, "ready\n", keepAlive: keepAlive) }
            else { respond(context, .serviceUnavailable, problems.joined(separator: "\n") + "\n", keepAlive: keepAlive) }
        case "/metrics":
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            server.metricsText(on: context.eventLoop).whenSuccess { text in
                let (handler, context) = bound.value
                handler.respond(context, .ok, text, keepAlive: keepAlive, type: "text/plain; version=0.0.4; charset=utf-8")
            }
        default:
            respond(context, .notFound, "not found: try /healthz, /readyz, /metrics, /config, /keys, /usage or POST /cache/flush\n", keepAlive: keepAlive)
        }
    }

    /// `GET /usage?usagePlanId=P&keyId=K&startDate=D&endDate=D` (API Gateway's GetUsage; `plan`,
    /// `start` and `end` are accepted too). Read from the quota store after writing what is
    /// counted so far, on the store's queue, never on the loop.
    private func usage(_ query: String, context: ChannelHandlerContext, keepAlive: Bool) {
        var params: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            let value = kv.count > 1 ? String(kv[1]).removingPercentEncoding ?? String(kv[1]) : ""
            params[String(kv[0])] = value
        }
        let config = server.currentConfig
        let report: UsageReport
        do {
            let plan = try UsageReport.plan(named: params["usagePlanId"] ?? params["plan"], in: config)
            guard let start = params["startDate"] ?? params["start"], let end = params["endDate"] ?? params["end"] else {
                return respond(context, .badRequest, "startDate and endDate are required: /usage?usagePlanId=P&startDate=2026-11-01&endDate=2026-11-30[&keyId=K]\n", keepAlive: keepAlive)
            }
            report = UsageReport(plan: plan, keyID: params["keyId"], start: start, end: end)
        } catch {
            return respond(context, .badRequest, error.description + "\n", keepAlive: keepAlive)
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        server.quotas.withFreshStore { store in
            let answer: (HTTPResponseStatus, String)
            if let store {
                do throws(UsageReport.Problem) {
                    answer = (.ok, try report.json(config: config, store: store) + "\n")
                } catch {
                    answer = (error.isRequestError ? .badRequest : .internalServerError, error.description + "\n")
                }
            } else {
                answer = (.notFound, "no quota store: usage per key and day is kept only with state_dir set (and its store writable)\n")
            }
            loop.execute {
                let (handler, context) = bound.value
                handler.respond(context, answer.0, answer.1, keepAlive: keepAlive, type: answer.0 == .ok ? "application/json" : "text/plain; charset=utf-8")
            }
        }
    }

    /// `Authorization: Bearer TOKEN`, the scheme in any case (RFC 9110 §11.1), the token compared
    /// in constant time.
    static func authorized(_ header: String?, token: String) -> Bool {
        guard let header, let space = header.firstIndex(of: " "), header[..<space].lowercased() == "bearer" else { return false }
        let given = header[header.index(after: space)...].drop { $0 == " " }
        return constantTimeEquals(Array(given.utf8), Array(token.utf8))
    }

    private func respond(
        _ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ body: String, keepAlive: Bool,
        type: String = "text/plain; charset=utf-8", extra: [(String, String)] = []
    ) {
        var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", "\(body.utf8.count)")] + extra)
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { done.whenComplete { _ in context.close(promise: nil) } }
    }
}

enum AdminServer {
    /// Binds the admin listener on one loop of `group`.
    static func bind(_ config: AdminConfig, server: PortcullisServer, group: any EventLoopGroup) throws -> any Channel {
        try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(server: server))
                }
            }
            .bind(host: config.host, port: config.port).wait()
    }
}
