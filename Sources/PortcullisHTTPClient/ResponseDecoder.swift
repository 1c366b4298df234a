import NIOCore
import PortcullisCore

/// Turns the bytes of one response into an `HTTPClientResponse`: head parsed by the proxy's own
/// parser, body by Content-Length, chunked framing (de-chunked) or connection close. A value with
/// no channel behind it, so every framing case is testable by feeding bytes; one decoder per
/// exchange, owned by the connection handler carrying that exchange.
struct ResponseDecoder {
    enum Step: Equatable {
        case needMore
        /// `reusable`: the server lets the connection carry another request, and sent nothing
        /// beyond this response (stray bytes would be read as the next response).
        case complete(reusable: Bool)
    }

    /// Heads larger than this are refused: a key-set or authorizer answer has a few headers.
    static let maxHeadBytes = 64 * 1024

    private let method: RequestMethod
    private let maxBodyBytes: Int
    private var buffer: ByteBuffer? = nil
    private var scanned = 0
    private var fields: [HeaderField] = []
    private var head: HTTPResponseHead? = nil
    private var body: [UInt8] = []
    private var remaining: Int64 = 0
    private var chunked = ChunkedDecoder()
    /// True once any byte of the response arrived: after that a failure is never retried.
    private(set) var sawBytes = false

    init(method: RequestMethod, maxBodyBytes: Int) {
        self.method = method
        self.maxBodyBytes = maxBodyBytes
    }

    /// The response, once `feed` or `end` reported it complete.
    var response: HTTPClientResponse? {
        guard let head else { return nil }
        return HTTPClientResponse(status: head.status, headers: head.headers.pairs, body: body)
    }

    mutating func feed(_ bytes: ByteBuffer) throws(HTTPClientError) -> Step {
        guard bytes.readableBytes > 0 else { return .needMore }
        sawBytes = true
        if buffer == nil || buffer!.readableBytes == 0 {
            buffer = bytes
        } else {
            var more = bytes
            buffer!.writeBuffer(&more)
        }
        return try advance()
    }

    /// The server closed the connection: complete only if the body was close-delimited.
    mutating func end() throws(HTTPClientError) {
        guard let head, head.framing == .untilClose else { throw .closedEarly }
    }

    private mutating func advance() throws(HTTPClientError) -> Step {
        guard var buf = buffer else { return .needMore }
        defer { buffer = buf }
        while head == nil {
            guard let n = HeadScanner.headLength(in: buf, scanned: &scanned) else {
                if buf.readableBytes > Self.maxHeadBytes { throw .invalidResponse("head larger than \(Self.maxHeadBytes) bytes") }
                return .needMore
            }
            let raw = buf.readSlice(length: n)!
            scanned = 0
            let parsed: HTTPResponseHead
            do {
                parsed = try HeadParser.parseResponse(raw, requestMethod: method, limits: HeadLimits(), reusing: &fields)
            } catch {
                throw .invalidResponse("\(error)")
            }
            if parsed.status == 101 { throw .invalidResponse("101 Switching Protocols was not asked for") }
            // 1xx heads are interim (100 Continue, 103 Early Hints): the final answer follows.
            if parsed.status < 200 { continue }
            if case .length(let n) = parsed.framing {
                guard n <= Int64(maxBodyBytes) else { throw .tooLarge(maxBodyBytes) }
                remaining = n
                body.reserveCapacity(Int(n))
            }
            head = parsed
        }
        let head = head!
        switch head.framing {
        case .none:
            return .complete(reusable: head.keepAlive && buf.readableBytes == 0)
        case .length:
            let take = Int(min(Int64(buf.readableBytes), remaining))
            body.append(contentsOf: buf.readableBytesView.prefix(take))
            buf.moveReaderIndex(forwardBy: take)
            remaining -= Int64(take)
            guard remaining == 0 else { return .needMore }
            return .complete(reusable: head.keepAlive && buf.readableBytes == 0)
        case .chunked:
            // Locals, so the payload callback does not overlap the mutating access to `chunked`.
            var decoder = chunked
            var out: [UInt8] = []
            swap(&out, &body)
            let view = buf.readableBytesView
            let used: Int
            do {
                used = try decoder.consume(buf) { offset, length in
                    out.append(contentsOf: view[(view.startIndex + offset)..<(view.startIndex + offset + length)])
                }
            } catch {
                throw .invalidResponse("bad chunked framing")
            }
            chunked = decoder
            swap(&out, &body)
            buf.moveReaderIndex(forwardBy: used)
            guard body.count <= maxBodyBytes else { throw .tooLarge(maxBodyBytes) }
            guard chunked.isDone else { return .needMore }
            return .complete(reusable: head.keepAlive && buf.readableBytes == 0)
        case .untilClose:
            body.append(contentsOf: buf.readableBytesView)
            buf.moveReaderIndex(forwardBy: buf.readableBytes)
            guard body.count <= maxBodyBytes else { throw .tooLarge(maxBodyBytes) }
            return .needMore
        }
    }
}
