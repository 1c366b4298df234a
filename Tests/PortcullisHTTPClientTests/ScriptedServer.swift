import Foundation
import NIOCore
import NIOPosix
import PortcullisTLS
import Synchronization

/// A loopback HTTP/1.1 server on 127.0.0.1 port 0 whose answers a test scripts: it parses each
/// request (head and Content-Length body), records it, and does what the script says. Counts
/// accepted connections, and offers a future per connection that completes when it closes, so
/// tests wait on events rather than sleeping.
final class ScriptedServer: Sendable {
    struct Received: Sendable {
        /// Which accepted connection (0-based) and which request on it (0-based).
        let connection: Int
        let index: Int
        let head: String
        let body: [UInt8]

        var requestLine: String { head.split(separator: "\r\n").first.map(String.init) ?? "" }

        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
    }

    enum Reply: Sendable {
        /// Write these bytes and keep the connection open.
        case respond(String)
        /// Write these bytes, then close.
        case respondAndClose(String)
        /// Close without answering.
        case close
        /// Never answer.
        case silent
    }

    typealias Script = @Sendable (Received) -> Reply

    /// What the accept and read paths update, on the server's loops.
    private final class Record: Sendable {
        struct State {
            var accepted = 0
            var received: [Received] = []
        }
        let state = Mutex(State())
    }

    private static let trackedConnections = 16
    private let record = Record()
    private let closed: [EventLoopPromise<Void>]
    private let channel: any Channel
    let port: Int

    init(group: any EventLoopGroup, tls: TLSServerContext? = nil, script: @escaping Script) throws {
        let loop = group.next()
        let closed = (0..<Self.trackedConnections).map { _ in loop.makePromise(of: Void.self) }
        let record = self.record
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                let n = record.state.withLock { s -> Int in
                    defer { s.accepted += 1 }
                    return s.accepted
                }
                if n < closed.count { ch.closeFuture.whenComplete { _ in closed[n].succeed(()) } }
                return ch.eventLoop.makeCompletedFuture {
                    if let tls { try ch.pipeline.syncOperations.addHandler(TLSServerHandler(context: tls)) }
                    try ch.pipeline.syncOperations.addHandler(
                        Handler(connection: n, script: script) { r in record.state.withLock { $0.received.append(r) } })
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress?.port ?? 0
        self.closed = closed
    }

    var accepted: Int { record.state.withLock { $0.accepted } }
    var received: [Received] { record.state.withLock { $0.received } }

    /// Completes when accepted connection `n` (0-based) has closed.
    func closeOf(connection n: Int) -> EventLoopFuture<Void> { closed[n].futureResult }

    /// Stops listening. Close futures of connections that never came complete too (NIO insists
    /// that no promise is dropped unfulfilled); completing one twice is a no-op.
    func stop() throws {
        defer { for p in closed { p.succeed(()) } }
        try channel.close().wait()
    }

    /// Parses requests out of the byte stream and carries out the script's replies.
    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let connection: Int
        let script: Script
        let record: @Sendable (Received) -> Void
        private var bytes: [UInt8] = []
        private var count = 0
        private var silent = false

        init(connection: Int, script: @escaping Script, record: @escaping @Sendable (Received) -> Void) {
            self.connection = connection
            self.script = script
            self.record = record
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            bytes += unwrapInboundIn(data).readableBytesView
            while !silent, let r = nextRequest() {
                record(r)
                switch script(r) {
                case .respond(let text):
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
                case .respondAndClose(let text):
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text))).assumeIsolated().whenComplete { _ in
                        context.close(promise: nil)
                    }
                    silent = true
                case .close:
                    context.close(promise: nil)
                    silent = true
                case .silent:
                    silent = true
                }
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }

        private func nextRequest() -> Received? {
            let end: [UInt8] = [13, 10, 13, 10]
            guard bytes.count >= 4, let i = (0...(bytes.count - 4)).first(where: { Array(bytes[$0..<($0 + 4)]) == end }) else { return nil }
            let head = String(decoding: bytes[..<(i + 4)], as: UTF8.self)
            var r = Received(connection: connection, index: count, head: head, body: [])
            let length = Int(r.header("content-length") ?? "0") ?? 0
            guard bytes.count >= i + 4 + length else { return nil }
            r = Received(connection: connection, index: count, head: head, body: Array(bytes[(i + 4)..<(i + 4 + length)]))
            bytes.removeFirst(i + 4 + length)
            count += 1
            return r
        }
    }
}

/// Response texts for scripts.
enum Responses {
    static func ok(_ body: String, headers: String = "") -> String {
        "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\(headers)\r\n\(body)"
    }

    static func chunked(_ pieces: [String]) -> String {
        var s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        for p in pieces { s += String(p.utf8.count, radix: 16) + ";ext=1\r\n" + p + "\r\n" }
        return s + "0\r\nX-Trailer: yes\r\n\r\n"
    }

    /// No length: the body ends when the server closes.
    static func closeDelimited(_ body: String) -> String {
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n\(body)"
    }
}
