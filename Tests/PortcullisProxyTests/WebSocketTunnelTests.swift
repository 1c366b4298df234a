import NIOCore
import NIOPosix
import Testing

@testable import PortcullisProxy

/// An upstream that accepts any upgrade with 101 and then echoes raw bytes back upper-cased.
private final class UpgradeEcho: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    var upgraded = false
    var pending = ByteBuffer()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buf = unwrapInboundIn(data)
        if !upgraded {
            pending.writeBuffer(&buf)
            guard let s = pending.getString(at: pending.readerIndex, length: pending.readableBytes),
                let end = s.range(of: "\r\n\r\n")
            else { return }
            upgraded = true
            let head = String(s[..<end.lowerBound]).lowercased()
            let ok = head.contains("upgrade: websocket") && head.contains("connection: upgrade")
            let reply = ok
                ? "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                : "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
            context.write(wrapOutboundOut(ByteBuffer(string: reply)), promise: nil)
            let rest = String(s[end.upperBound...])
            if !rest.isEmpty { context.write(wrapOutboundOut(ByteBuffer(string: rest.uppercased())), promise: nil) }
            context.flush()
            return
        }
        let s = buf.readString(length: buf.readableBytes) ?? ""
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: s.uppercased())), promise: nil)
    }
}

@Suite struct WebSocketTunnelTests {
    @Test func upgradeIsTunnelledByteForByte() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await ServerBootstrap(group: group)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(UpgradeEcho()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = upstream.localAddress!.port!
        let yaml = """
            workers: 1
            access_log: off
            listeners: [{ name: public, listen: "127.0.0.1:0" }]
            apis:
              - name: demo
                stage: demo
                routes:
                  - { path: /ws, methods: [GET], upstream: up, websocket: true }
                  - { path: /plain, methods: [GET], upstream: up }
            upstreams:
              up: { endpoints: ["http://127.0.0.1:\(port)"] }
            """
        let h = try await Harness(yaml, startEcho: false)
        defer { Task { try? await upstream.close(); try? await group.shutdownGracefully() } }
        let c = try h.connect()
        c.send("GET /demo/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n")
        let r = try c.readResponse()
        #expect(r.status == 101)
        #expect(r.header("Upgrade") == "websocket")
        c.send("hello tunnel")
        var got = ""
        while got.count < 12 {
            var chunk = [UInt8](repeating: 0, count: 64)
            let n = recv(c.fd, &chunk, 64, 0)
            if n <= 0 { break }
            got += String(decoding: chunk[0..<n], as: UTF8.self)
        }
        #expect(got == "HELLO TUNNEL")
        // On a route without websocket: true the Upgrade header is not forwarded.
        let plain = try h.connect()
        plain.send("GET /demo/plain HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        #expect(try plain.readResponse().status == 400)
        await h.stop()
    }
}
