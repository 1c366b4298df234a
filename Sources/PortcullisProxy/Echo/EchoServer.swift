public import NIOCore
public import NIOPosix
import PortcullisCore

/// `portcullis echo`: a small, fast HTTP/1.1 upstream for the demo, tests and benchmarks.
/// Answers every request with JSON describing it (method, path, query, headers, body).
/// Query switches make it misbehave on purpose: `status=N`, `delay=MS`, `bytes=N` (stream N bytes),
/// `chunked=1`, `close=1` (drop the connection without answering).
public enum EchoServer {
    public static func bind(host: String, port: Int, group: any EventLoopGroup) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .bind(host: host, port: port).get()
    }
}

final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var inbound: ByteBuffer?
    private var scanned = 0
    private var fields: [HeaderField] = []
    private var head: HTTPRequestHead?
    private var remaining: Int64 = 0
    private var chunked = ChunkedDecoder()
    private var body = ByteBuffer()
    private var bodyBytes: Int64 = 0
    private var busy = false
    private var streamLeft: Int64 = 0
    private static let maxKeptBody = 64 * 1024
    private static let zeros = ByteBuffer(repeating: 0x61, count: 64 * 1024)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buf = unwrapInboundIn(data)
        if inbound == nil || inbound!.readableBytes == 0 { inbound = buf } else {
            var b = buf
            inbound!.writeBuffer(&b)
        }
        process(context)
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && streamLeft > 0 { stream(context) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    private func process(_ context: ChannelHandlerContext) {
        while !busy, var buf = inbound, buf.readableBytes > 0 {
            if head == nil {
                guard let len = HeadScanner.headLength(in: buf, scanned: &scanned) else { return }
                scanned = 0
                let raw = buf.readSlice(length: len)!
                inbound = buf
                guard let h = try? HeadParser.parseRequest(raw, limits: HeadLimits(maxHeaders: 500, maxFieldLineBytes: .max), reusing: &fields) else {
                    context.close(promise: nil)
                    return
                }
                head = h
                body.clear()
                bodyBytes = 0
                switch h.framing {
                case .length(let n): remaining = n
                case .chunked: chunked = ChunkedDecoder()
                default: remaining = 0
                }
                if h.expectContinue {
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
                }
                if h.framing == .none { respond(context) }
                continue
            }
            guard let h = head else { return }
            switch h.framing {
            case .length:
                let n = Int(min(Int64(buf.readableBytes), remaining))
                keep(buf.readSlice(length: n)!)
                inbound = buf
                remaining -= Int64(n)
                if remaining == 0 { respond(context) }
            case .chunked:
                var spans: [(Int, Int)] = []
                guard let n = try? chunked.consume(buf, onPayload: { spans.append(($0, $1)) }) else {
                    context.close(promise: nil)
                    return
                }
                for (o, len) in spans { keep(buf.getSlice(at: buf.readerIndex + o, length: len)!) }
                buf.moveReaderIndex(forwardBy: n)
                inbound = buf
                if chunked.isDone { respond(context) }
            default:
                respond(context)
            }
        }
    }

    private func keep(_ slice: ByteBuffer) {
        bodyBytes += Int64(slice.readableBytes)
        if body.readableBytes < Self.maxKeptBody {
            var s = slice
            let n = min(s.readableBytes, Self.maxKeptBody - body.readableBytes)
            body.writeImmutableBuffer(s.readSlice(length: n)!)
        }
    }

    private func respond(_ context: ChannelHandlerContext) {
        guard let h = head else { return }
        head = nil
        let q = Self.queryItems(h.query)
        if q["close"] != nil {
            context.close(promise: nil)
            return
        }
        if let d = q["delay"].flatMap({ Int64($0) }), d > 0 {
            busy = true
            context.eventLoop.scheduleTask(in: .milliseconds(d)) { [self] in
                busy = false
                send(h, q, context)
                context.flush()
                process(context)
            }
            return
        }
        send(h, q, context)
    }

    private func send(_ h: HTTPRequestHead, _ q: [Substring: Substring], _ context: ChannelHandlerContext) {
        let status = q["status"].flatMap { Int($0) } ?? 200
        var out = context.channel.allocator.buffer(capacity: 1024)
        let keepAlive = h.keepAlive
        if let n = q["bytes"].flatMap({ Int64($0) }) {
            out.writeString("HTTP/1.1 \(status) OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \(n)\r\n")
            if !keepAlive { out.writeStaticString("Connection: close\r\n") }
            out.writeStaticString("\r\n")
            context.write(wrapOutboundOut(out), promise: nil)
            streamLeft = n
            stream(context)
            return
        }
        let json = Self.describe(h, body: body, bodyBytes: bodyBytes)
        if q["chunked"] != nil {
            out.writeString("HTTP/1.1 \(status) OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n")
            if !keepAlive { out.writeStaticString("Connection: close\r\n") }
            out.writeStaticString("\r\n")
            let mid = json.utf8.count / 2
            let a = String(json.utf8.prefix(mid))!, b = String(json.utf8.dropFirst(mid))!
            for part in [a, b] where !part.isEmpty {
                out.writeString(String(part.utf8.count, radix: 16) + "\r\n" + part + "\r\n")
            }
            out.writeStaticString("0\r\n\r\n")
        } else {
            out.writeString("HTTP/1.1 \(status) OK\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n")
            if !keepAlive { out.writeStaticString("Connection: close\r\n") }
            out.writeStaticString("\r\n")
            out.writeString(json)
        }
        if keepAlive {
            context.write(wrapOutboundOut(out), promise: nil)
        } else {
            context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// Streams `streamLeft` bytes, pausing while the socket is not writable (flat memory).
    private func stream(_ context: ChannelHandlerContext) {
        while streamLeft > 0 && context.channel.isWritable {
            let n = Int(min(streamLeft, Int64(Self.zeros.readableBytes)))
            streamLeft -= Int64(n)
            context.write(wrapOutboundOut(Self.zeros.getSlice(at: 0, length: n)!), promise: nil)
        }
        context.flush()
    }

    static func queryItems(_ q: String) -> [Substring: Substring] {
        var out: [Substring: Substring] = [:]
        guard !q.isEmpty else { return out }
        for part in q.split(separator: "&") {
            let kv = part.split(separator: "=", maxSplits: 1)
            out[kv[0]] = kv.count > 1 ? kv[1] : ""
        }
        return out
    }

    static func describe(_ h: HTTPRequestHead, body: ByteBuffer, bodyBytes: Int64) -> String {
        var s = "{\"method\":\(JSONString.quoted(h.method.name)),\"path\":\(JSONString.quoted(h.path)),\"query\":\(JSONString.quoted(h.query)),\"headers\":{"
        var merged: [(String, String)] = []
        for (n, v) in h.headers.pairs {
            let name = n.lowercased()
            if let i = merged.firstIndex(where: { $0.0 == name }) { merged[i].1 += ", " + v } else { merged.append((name, v)) }
        }
        s += merged.map { "\(JSONString.quoted($0.0)):\(JSONString.quoted($0.1))" }.joined(separator: ",")
        s += "},\"body\":\(JSONString.quoted(String(decoding: body.readableBytesView, as: UTF8.self))),\"body_bytes\":\(bodyBytes)}"
        return s
    }
}
