import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import PortcullisTLS
import Synchronization

/// A loopback authorizer service on 127.0.0.1 port 0 for integration tests: answers each POSTed
/// event as the test's script says, counts calls per path, keeps the events, and lets tests wait
/// on events (the nth call arriving) and hold answers until released, instead of sleeping.
final class CountingAuthorizer: Sendable {
    enum Reply: Sendable {
        case json(status: Int, body: String)
        /// Answer with this once `release()` is called.
        case held(status: Int, body: String)
        /// Never answer (the gateway's timeout must act).
        case silent
    }

    typealias Script = @Sendable (_ path: String, _ event: [String: Any], _ call: Int) -> Reply

    private struct State {
        var calls: [String: Int] = [:]
        var total = 0
        var events: [[UInt8]] = []
        var held: [@Sendable () -> Void] = []
        var released = false
        var callWaiters: [(Int, EventLoopPromise<Void>)] = []
    }

    private let state = Mutex(State())
    private let script: Mutex<Script>
    let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let isTLS: Bool
    var port: Int { channel.localAddress!.port! }
    var url: String { isTLS ? "https://localhost:\(port)/authorize" : "http://127.0.0.1:\(port)/authorize" }

    /// `tls`: serve https with this context (the gateway must trust its CA).
    init(tls: TLSServerContext? = nil, _ script: @escaping Script) throws {
        isTLS = tls != nil
        self.script = Mutex(script)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        // The handlers need the finished instance; they get it through this slot, filled below
        // before the first connection can arrive (nobody knows the port until init returns).
        let slot = OwnerSlot()
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                let owner = slot.owner.withLock { $0 }!
                if let tls {
                    do { try ch.pipeline.syncOperations.addHandler(TLSServerHandler(context: tls)) } catch { return ch.eventLoop.makeFailedFuture(error) }
                }
                return ch.pipeline.configureHTTPServerPipeline().flatMap {
                    ch.pipeline.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(Handler(owner: owner)) }
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        slot.owner.withLock { $0 = self }
    }

    func setScript(_ s: @escaping Script) { script.withLock { $0 = s } }

    func calls(_ path: String = "/authorize") -> Int { state.withLock { $0.calls[path] ?? 0 } }
    var totalCalls: Int { state.withLock { $0.total } }
    var events: [[String: Any]] {
        state.withLock { $0.events }.map { (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any] ?? [:] }
    }

    /// Succeeds when the `n`th call (1-based, all paths) has arrived.
    func whenCalls(_ n: Int) -> EventLoopFuture<Void> {
        let p = group.next().makePromise(of: Void.self)
        let now = state.withLock { s -> Bool in
            if s.total >= n { return true }
            s.callWaiters.append((n, p))
            return false
        }
        if now { p.succeed() }
        return p.futureResult
    }

    /// Sends every held answer, and answers later `.held` replies at once.
    func release() {
        let held = state.withLock { s -> [@Sendable () -> Void] in
            s.released = true
            let h = s.held
            s.held = []
            return h
        }
        for h in held { h() }
    }

    func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    fileprivate func handle(path: String, body: [UInt8]) -> (Reply, Int) {
        let event = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        let (call, ready) = state.withLock { s -> (Int, [EventLoopPromise<Void>]) in
            s.calls[path, default: 0] += 1
            s.total += 1
            s.events.append(body)
            let ready = s.callWaiters.filter { $0.0 <= s.total }.map(\.1)
            s.callWaiters.removeAll { $0.0 <= s.total }
            return (s.total, ready)
        }
        let reply = script.withLock { $0 }(path, event, call)
        for p in ready { p.succeed() }
        return (reply, call)
    }

    /// Holds `send` until `release()` (or runs it now if already released).
    fileprivate func hold(_ send: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.released { return true }
            s.held.append(send)
            return false
        }
        if now { send() }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let owner: CountingAuthorizer
        var path = ""
        var body: [UInt8] = []

        init(owner: CountingAuthorizer) { self.owner = owner }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                path = h.uri
                body = []
            case .body(var b): body += b.readBytes(length: b.readableBytes) ?? []
            case .end:
                let (reply, _) = owner.handle(path: path, body: body)
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                let me = NIOLoopBound(self, eventLoop: context.eventLoop)
                switch reply {
                case .json(let status, let text): write(context, status, text)
                case .held(let status, let text):
                    let loop = context.eventLoop
                    owner.hold { loop.execute { me.value.write(bound.value, status, text) } }
                case .silent: break
                }
            }
        }

        func write(_ context: ChannelHandlerContext, _ status: Int, _ text: String) {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(text.utf8.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

/// Where the bootstrap's initializer finds the server it serves.
private final class OwnerSlot: Sendable {
    let owner = Mutex<CountingAuthorizer?>(nil)
}

extension CountingAuthorizer {
    /// An Allow (or Deny) policy answer for `resource`, with a context.
    static func policy(_ principal: String, effect: String = "Allow", resource: String = "*", context: String = "{}", usageKey: String? = nil) -> String {
        let key = usageKey.map { #","usageIdentifierKey":"\#($0)""# } ?? ""
        return #"{"principalId":"\#(principal)","context":\#(context)\#(key),"policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"\#(effect)","Resource":"\#(resource)"}]}}"#
    }
}
