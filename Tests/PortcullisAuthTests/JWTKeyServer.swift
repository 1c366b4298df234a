import NIOCore
import NIOPosix
import PortcullisTLS
import Synchronization

/// A scripted key-set server on 127.0.0.1 port 0: answers every GET with the current document
/// (or a status / garbage), counts requests, and can be stopped (connection refused) and
/// restarted on the same port. Also serves an OIDC discovery document naming its own JWKS.
final class JWTKeyServer: Sendable {
    struct State {
        var body = "{\"keys\":[]}"
        var status = 200
        var cacheControl: String? = nil
        var chunked = false
        var requests: [String] = []
    }

    let group: MultiThreadedEventLoopGroup
    private let state = Mutex(State())
    private let channel = Mutex<(any Channel)?>(nil)
    private let boundPort = Mutex(0)

    let tls: TLSServerContext?

    init(group: MultiThreadedEventLoopGroup, tls: TLSServerContext? = nil) throws {
        self.group = group
        self.tls = tls
        try start(port: 0)
    }

    var port: Int { boundPort.withLock { $0 } }
    var jwksURL: String { "http://127.0.0.1:\(port)/.well-known/jwks.json" }
    var issuer: String { "http://127.0.0.1:\(port)" }
    var requests: [String] { state.withLock { $0.requests } }

    func serve(_ body: String, status: Int = 200, cacheControl: String? = nil, chunked: Bool = false) {
        state.withLock {
            $0.body = body
            $0.status = status
            $0.cacheControl = cacheControl
            $0.chunked = chunked
        }
    }

    func start(port: Int) throws {
        let ch = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] ch in
                ch.eventLoop.makeCompletedFuture {
                    if let tls = self.tls { try ch.pipeline.syncOperations.addHandler(try TLSServerHandler(context: tls)) }
                    try ch.pipeline.syncOperations.addHandler(Handler(server: self))
                }
            }
            .bind(host: "127.0.0.1", port: port).wait()
        channel.withLock { $0 = ch }
        boundPort.withLock { $0 = ch.localAddress?.port ?? 0 }
    }

    func stop() throws {
        let ch = channel.withLock { c -> (any Channel)? in
            defer { c = nil }
            return c
        }
        try ch?.close().wait()
    }

    func respond(to target: String) -> String {
        state.withLock { s in
            s.requests.append(target)
            var body = s.body
            if target.hasSuffix("/openid-configuration") {
                body = "{\"issuer\":\"\(issuer)\",\"jwks_uri\":\"\(jwksURL)\"}"
            }
            var head = "HTTP/1.1 \(s.status) X\r\nContent-Type: application/json\r\nConnection: close\r\n"
            if let cc = s.cacheControl { head += "Cache-Control: \(cc)\r\n" }
            if s.chunked {
                let bytes = Array(body.utf8)
                let mid = bytes.count / 2
                let a = String(decoding: bytes[..<mid], as: UTF8.self), b = String(decoding: bytes[mid...], as: UTF8.self)
                return head + "Transfer-Encoding: chunked\r\n\r\n"
                    + String(a.utf8.count, radix: 16) + "\r\n" + a + "\r\n" + String(b.utf8.count, radix: 16) + "\r\n" + b + "\r\n0\r\n\r\n"
            }
            return head + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        }
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let server: JWTKeyServer
        var received = ""

        init(server: JWTKeyServer) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += String(buffer: unwrapInboundIn(data))
            guard received.contains("\r\n\r\n") else { return }
            let target = received.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
            context.writeAndFlush(NIOAny(ByteBuffer(string: server.respond(to: target)))).whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}
