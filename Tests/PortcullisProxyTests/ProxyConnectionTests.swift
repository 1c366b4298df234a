import NIOCore
import NIOEmbedded
import PortcullisConfig
import Testing

@testable import PortcullisProxy

/// The client handler on an EmbeddedChannel: refusals that need no upstream, and timeouts driven
/// by a fake clock (`checkTimeouts(now:)`), never by sleeping.
@Suite struct ProxyConnectionTests {
    static let yaml = """
        listeners: [{ name: public, listen: "127.0.0.1:0" }]
        limits: { max_header_size: 2KiB, max_headers: 10, header_timeout: 5s, idle_timeout: 30s, max_body_size: 100 }
        access_log: off
        apis:
          - name: demo
            stage: demo
            routes:
              - { path: /x, upstream: b }
              - { path: /office, upstream: b, auth: [office] }
        authorizers:
          office: { type: ip, allow: [10.0.0.0/8] }
        upstreams:
          b: { endpoints: ["http://127.0.0.1:9"] }
        """

    func makeChannel(peer: String = "192.0.2.9") throws -> (EmbeddedChannel, ProxyConnection) {
        let config = try ConfigLoader.parse(Self.yaml, file: "t.yaml")
        let snapshot = try Snapshot(config)
        let loop = EmbeddedEventLoop()
        let ctx = LoopContext(loop: loop, index: 0, snapshot: snapshot, accessLog: nil, maxConnections: 10)
        let handler = ProxyConnection(loop: ctx, listener: ListenerRuntime(name: "public", isTLS: false))
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: peer, port: 40000)).wait()
        return (channel, handler)
    }

    func output(_ ch: EmbeddedChannel) throws -> String {
        var s = ""
        while let b = try ch.readOutbound(as: ByteBuffer.self) { s += String(buffer: b) }
        return s
    }

    /// On the server's loops, a head without a body waits for the end of the loop's turn and goes
    /// out with the other heads of that turn, each on its own upstream connection, so an upstream
    /// on the same core is woken once per turn, not once per request. A head with a body goes at
    /// once, its body right behind it.
    @Test func headsWithoutBodyGoUpstreamAtTheEndOfTheTurn() throws {
        let snapshot = try Snapshot(ConfigLoader.parse(Self.yaml.replacingOccurrences(of: "127.0.0.1:9\"", with: "127.0.0.1:9001\""), file: "t.yaml"))
        let loop = EmbeddedEventLoop()
        let ctx = LoopContext(loop: loop, index: 0, snapshot: snapshot, accessLog: nil, maxConnections: 10, batchesUpstreamFlushes: true)
        let pool = ctx.pools(of: snapshot.upstreams["b"]!, in: snapshot)[0]
        var upstreams: [EmbeddedChannel] = []
        for _ in 0..<3 {
            let u = UpstreamConnection()
            let ch = EmbeddedChannel(handler: u, loop: loop)
            try ch.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9001)).wait()
            u.pool = pool
            pool.open += 1
            pool.idle.append(u)
            upstreams.append(ch)
        }
        var clients: [EmbeddedChannel] = []
        for i in 0..<3 {
            let ch = EmbeddedChannel(handler: ProxyConnection(loop: ctx, listener: ListenerRuntime(name: "public", isTLS: false)), loop: loop)
            try ch.connect(to: SocketAddress(ipAddress: "192.0.2.9", port: 40000 + i)).wait()
            clients.append(ch)
        }
        try clients[0].writeInbound(ByteBuffer(string: "GET /demo/x?n=0 HTTP/1.1\r\nHost: a\r\n\r\n"))
        try clients[1].writeInbound(ByteBuffer(string: "GET /demo/x?n=1 HTTP/1.1\r\nHost: a\r\n\r\n"))
        try clients[2].writeInbound(ByteBuffer(string: "POST /demo/x?n=2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"))
        var sent = try upstreams.map { try output($0) }
        // Only the POST went out during the turn, head and body together.
        #expect(sent.filter { !$0.isEmpty }.count == 1)
        let post = sent.first { !$0.isEmpty } ?? ""
        #expect(post.hasPrefix("POST /x?n=2 HTTP/1.1\r\n") && post.hasSuffix("\r\n\r\nabc"))
        // The turn ends: the two GETs go out, one on each of the other connections.
        loop.run()
        sent = try upstreams.map { try output($0) }
        let lines = sent.filter { !$0.isEmpty }.map { $0.components(separatedBy: "\r\n")[0] }
        #expect(lines.sorted() == ["GET /x?n=0 HTTP/1.1", "GET /x?n=1 HTTP/1.1"])
        #expect(sent.allSatisfy { $0.components(separatedBy: "HTTP/1.1\r\n").count <= 2 })
    }

    /// A head queued while the turn's heads are going out (a flush that fails at once can retry
    /// the request or start the next pipelined one) goes out in the same task, not lost.
    @Test func headQueuedWhileTheTurnsHeadsGoOutIsSent() throws {
        let snapshot = try Snapshot(ConfigLoader.parse(Self.yaml, file: "t.yaml"))
        let loop = EmbeddedEventLoop()
        let ctx = LoopContext(loop: loop, index: 0, snapshot: snapshot, accessLog: nil, maxConnections: 10, batchesUpstreamFlushes: true)
        let (first, second) = (UpstreamConnection(), UpstreamConnection())
        let queueAnother = OnFlush { ctx.sendUpstreamHeadAtTurnEnd(second) { $0.writeString("second head") } }
        let a = EmbeddedChannel(handlers: [queueAnother, first], loop: loop)
        let b = EmbeddedChannel(handler: second, loop: loop)
        for ch in [a, b] { try ch.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9001)).wait() }
        ctx.sendUpstreamHeadAtTurnEnd(first) { $0.writeString("first head") }
        loop.run()
        #expect(try output(a) == "first head")
        #expect(try output(b) == "second head")
    }

    /// Bytes from the upstream before the request went out are not this request's answer: the
    /// exchange fails (the proxy retries a bodiless request on a fresh connection) and the queued
    /// head is never written to that connection.
    @Test func upstreamBytesBeforeTheHeadFailTheExchange() throws {
        let snapshot = try Snapshot(ConfigLoader.parse(Self.yaml, file: "t.yaml"))
        let loop = EmbeddedEventLoop()
        let ctx = LoopContext(loop: loop, index: 0, snapshot: snapshot, accessLog: nil, maxConnections: 10, batchesUpstreamFlushes: true)
        let u = UpstreamConnection()
        let ch = EmbeddedChannel(handler: u, loop: loop)
        try ch.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9001)).wait()
        u.begin(method: .GET, delegate: ProxyConnection(loop: ctx, listener: ListenerRuntime(name: "public", isTLS: false)))
        ctx.sendUpstreamHeadAtTurnEnd(u) { $0.writeString("GET / HTTP/1.1\r\n\r\n") }
        try ch.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        loop.run()
        #expect(!ch.isActive)
        #expect(try output(ch) == "")
    }

    /// A closed connection's handler, context and channel are freed: the handler used to keep its
    /// context (which holds the handler) and leaked them all, about 4.6 KB per connection.
    @Test func closedConnectionIsFreed() throws {
        weak var handler: ProxyConnection?
        weak var channel: EmbeddedChannel?
        try {
            let (ch, h) = try makeChannel()
            handler = h
            channel = ch
            try ch.writeInbound(ByteBuffer(string: "GET /demo/nope HTTP/1.1\r\nHost: a\r\n\r\n"))
            #expect(try output(ch).hasPrefix("HTTP/1.1 403"))
            try ch.close().wait()
            (ch.eventLoop as? EmbeddedEventLoop)?.run()  // the pipeline removes its handlers on a later tick
        }()
        #expect(handler == nil)
        #expect(channel == nil)
    }

    /// Between requests the handler holds no bytes: the socket's receive buffer is the only one
    /// an idle keep-alive connection keeps, and the head buffers are the loop's.
    @Test func idleConnectionHoldsNoBuffer() throws {
        let (ch, h) = try makeChannel()
        try ch.writeInbound(ByteBuffer(string: "GET /demo/nope HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(try output(ch).hasPrefix("HTTP/1.1 403"))
        #expect(ch.isActive)
        #expect(h.inbound == nil)
        // A partial head is kept until the rest arrives, then let go again.
        try ch.writeInbound(ByteBuffer(string: "GET /demo/nope HTTP/1.1\r\n"))
        #expect(h.inbound?.readableBytes == 25)
        try ch.writeInbound(ByteBuffer(string: "Host: a\r\n\r\n"))
        #expect(try output(ch).hasPrefix("HTTP/1.1 403"))
        #expect(h.inbound == nil)
    }

    @Test func readBuffersStartAt1KiBAndDoubleOnFullReads() {
        var sizing = ClientReadSizing()
        #expect(sizing.nextBufferSize() == 1024)
        #expect(sizing.buffer(allocator: ByteBufferAllocator()).capacity >= 1024)
        var grew = sizing.record(actualReadBytes: 300)
        #expect(!grew)
        #expect(sizing.nextBufferSize() == 1024)
        grew = sizing.record(actualReadBytes: 1024)
        #expect(grew)
        #expect(sizing.nextBufferSize() == 2048)
        for _ in 0..<10 { _ = sizing.record(actualReadBytes: sizing.size) }
        #expect(sizing.nextBufferSize() == 64 * 1024)
        grew = sizing.record(actualReadBytes: 64 * 1024)
        #expect(!grew)
    }

    @Test func headTooLargeIs431AndCloses() throws {
        let (ch, _) = try makeChannel()
        try ch.writeInbound(ByteBuffer(string: "GET /demo/x HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "a", count: 3000)))
        let out = try output(ch)
        #expect(out.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        #expect(out.contains("Connection: close"))
        #expect(!ch.isActive)
    }

    @Test func tooManyHeadersIs431() throws {
        let (ch, _) = try makeChannel()
        let many = (0..<11).map { "X-\($0): 1\r\n" }.joined()
        try ch.writeInbound(ByteBuffer(string: "GET /demo/x HTTP/1.1\r\nHost: a\r\n\(many)\r\n"))
        #expect(try output(ch).hasPrefix("HTTP/1.1 431"))
    }

    @Test func contentLengthOverLimitIs413PlainText() throws {
        let (ch, _) = try makeChannel()
        try ch.writeInbound(ByteBuffer(string: "POST /demo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n"))
        let out = try output(ch)
        #expect(out.hasPrefix("HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain\r\n"))
        #expect(out.hasSuffix("\r\n\r\nHTTP content length exceeded 100 bytes."))
    }

    @Test func refusalsOnOneConnectionKeepOrderAndKeepAlive() throws {
        let (ch, _) = try makeChannel()
        try ch.writeInbound(ByteBuffer(string: "GET /demo/a HTTP/1.1\r\nHost: a\r\n\r\nGET /v9/b HTTP/1.1\r\nHost: a\r\n\r\nPOST /demo/c HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /demo/d HTTP/1.1\r\nHost: a\r\n\r\n"))
        let out = try output(ch)
        #expect(out.components(separatedBy: "HTTP/1.1 403 Forbidden").count == 5)
        #expect(ch.isActive)
    }

    @Test func ipAllowListRefusesOthers() throws {
        let (ch, _) = try makeChannel(peer: "192.0.2.9")
        try ch.writeInbound(ByteBuffer(string: "GET /demo/office HTTP/1.1\r\nHost: a\r\n\r\n"))
        let out = try output(ch)
        #expect(out.hasPrefix("HTTP/1.1 403"))
        #expect(out.contains("x-amzn-ErrorType: AccessDeniedException"))
        #expect(out.hasSuffix(#"{"Message":"User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:000000000000:demo/demo/GET/office"}"#))
    }

    @Test func slowHeadTimesOutWith408ByFakeClock() throws {
        let (ch, handler) = try makeChannel()
        try ch.writeInbound(ByteBuffer(string: "GET /demo/x HTTP/1.1\r\n"))
        handler.checkTimeouts(now: .now() + .seconds(4))
        #expect(try output(ch).isEmpty)
        handler.checkTimeouts(now: .now() + .seconds(6))
        let out = try output(ch)
        #expect(out.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(!ch.isActive)
    }

    @Test func idleKeepAliveConnectionIsClosedQuietly() throws {
        let (ch, handler) = try makeChannel()
        try ch.writeInbound(ByteBuffer(string: "GET /demo/nope HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(try output(ch).hasPrefix("HTTP/1.1 403"))
        handler.checkTimeouts(now: .now() + .seconds(29))
        #expect(ch.isActive)
        handler.checkTimeouts(now: .now() + .seconds(31))
        #expect(try output(ch).isEmpty)
        #expect(!ch.isActive)
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\n\r\n", "400"),
        ("GET / HTTP/3.0\r\nHost: a\r\n\r\n", "505"),
        ("POST /demo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "501"),
        ("POST /demo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "400"),
        ("GET /demo/x HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", "417"),
    ])
    func malformedRequestsGetTheRightStatus(request: String, status: String) throws {
        let (ch, _) = try makeChannel()
        try ch.writeInbound(ByteBuffer(string: request))
        #expect(try output(ch).hasPrefix("HTTP/1.1 \(status) "))
        #expect(!ch.isActive)
    }
}

/// Runs `action` on the first flush that passes through it.
final class OnFlush: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var action: (() -> Void)?

    init(_ action: @escaping () -> Void) { self.action = action }

    func flush(context: ChannelHandlerContext) {
        let run = action
        action = nil
        run?()
        context.flush()
    }
}
