import NIOCore
import PortcullisCore

/// The answer to one GET, body de-chunked.
public struct HTTPGetResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ lowercasedName: String) -> String? {
        headers.first { $0.0.lowercased() == lowercasedName }?.1
    }

    /// `max-age` of Cache-Control in seconds, unless `no-store`/`no-cache` say not to keep it.
    public var maxAge: Double? {
        guard let cc = header("cache-control")?.lowercased() else { return nil }
        var age: Double? = nil
        for part in cc.split(separator: ",") {
            let d = part.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces }
            if d.first == "no-store" || d.first == "no-cache" { return 0 }
            if d.count == 2, d[0] == "max-age", let v = Double(d[1]), v >= 0 { age = v }
        }
        return age
    }
}

public enum HTTPGetError: Error, Sendable, CustomStringConvertible {
    case invalidResponse(String)
    case tooLarge(Int)
    case timedOut
    case closedEarly

    public var description: String {
        switch self {
        case .invalidResponse(let why): return "invalid HTTP response: \(why)"
        case .tooLarge(let n): return "response larger than \(n) bytes"
        case .timedOut: return "timed out"
        case .closedEarly: return "connection closed before the response was complete"
        }
    }
}

/// Completes a GET's promise once, whichever of response, error, timeout or failed connect comes
/// first. Lives on the loop of the GET (wrapped in `NIOLoopBound` when closures carry it).
final class GetCompletion {
    let promise: EventLoopPromise<HTTPGetResponse>
    private(set) var done = false

    init(_ promise: EventLoopPromise<HTTPGetResponse>) { self.promise = promise }

    func succeed(_ r: HTTPGetResponse) {
        guard !done else { return }
        done = true
        promise.succeed(r)
    }

    func fail(_ e: any Error) {
        guard !done else { return }
        done = true
        promise.fail(e)
    }
}

/// Collects one HTTP/1.1 response on a `Connection: close` request: head parsed with the proxy's
/// own parser, body by Content-Length, chunked framing or connection close. Completes `promise`
/// exactly once and closes the channel. Lives on its channel's loop.
final class HTTPGetHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let completion: GetCompletion
    private let maxBytes: Int
    private var buffer: ByteBuffer? = nil
    private var scanned = 0
    private var head: HTTPResponseHead? = nil
    private var bodyStart = 0
    private var done = false

    init(completion: GetCompletion, maxBytes: Int) {
        self.completion = completion
        self.maxBytes = maxBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        var bytes = unwrapInboundIn(data)
        if buffer == nil { buffer = bytes } else { buffer!.writeBuffer(&bytes) }
        guard buffer!.readableBytes <= maxBytes + 16 * 1024 else { return fail(context, .tooLarge(maxBytes)) }
        do {
            if let r = try progress(complete: false) { succeed(context, r) }
        } catch {
            fail(context, error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        guard !done else { return }
        do {
            if let r = try progress(complete: true) { succeed(context, r) } else { fail(context, .closedEarly) }
        } catch {
            fail(context, error)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !done else { return }
        done = true
        completion.fail(error)
        context.close(promise: nil)
    }

    /// A response when it is complete, nil when more bytes are needed.
    private func progress(complete: Bool) throws(HTTPGetError) -> HTTPGetResponse? {
        guard let buf = buffer else { return nil }
        if head == nil {
            guard let n = HeadScanner.headLength(in: buf, scanned: &scanned) else { return nil }
            var fields: [HeaderField] = []
            let raw = buf.getSlice(at: buf.readerIndex, length: n)!
            do {
                head = try HeadParser.parseResponse(raw, requestMethod: RequestMethod("GET"), limits: HeadLimits(), reusing: &fields)
            } catch {
                throw .invalidResponse("\(error)")
            }
            bodyStart = buf.readerIndex + n
        }
        guard let head else { return nil }
        let available = buf.writerIndex - bodyStart
        let body: [UInt8]
        switch head.framing {
        case .none:
            body = []
        case .length(let n):
            guard n <= maxBytes else { throw .tooLarge(maxBytes) }
            guard available >= Int(n) else { return nil }
            body = buf.getBytes(at: bodyStart, length: Int(n)) ?? []
        case .untilClose:
            guard available <= maxBytes else { throw .tooLarge(maxBytes) }
            guard complete else { return nil }
            body = buf.getBytes(at: bodyStart, length: available) ?? []
        case .chunked:
            let slice = buf.getSlice(at: bodyStart, length: available)!
            var decoder = ChunkedDecoder()
            var out: [UInt8] = []
            do {
                _ = try decoder.consume(slice) { offset, length in
                    out += slice.getBytes(at: slice.readerIndex + offset, length: length) ?? []
                }
            } catch {
                throw .invalidResponse("bad chunked framing")
            }
            guard out.count <= maxBytes else { throw .tooLarge(maxBytes) }
            guard decoder.isDone else { return nil }
            body = out
        }
        return HTTPGetResponse(status: head.status, headers: head.headers.pairs, body: body)
    }

    private func succeed(_ context: ChannelHandlerContext, _ r: HTTPGetResponse) {
        done = true
        completion.succeed(r)
        context.close(promise: nil)
    }

    private func fail(_ context: ChannelHandlerContext, _ e: HTTPGetError) {
        done = true
        completion.fail(e)
        context.close(promise: nil)
    }
}
