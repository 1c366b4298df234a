import NIOCore

/// An upstream that answers only when the test says so: a test that needs a request in flight
/// holds it here, instead of guessing how long a delay lasts on a loaded machine. Add the same
/// instance to the child channels of a server; it holds one request at a time.
final class HeldUpstream: ChannelInboundHandler, @unchecked Sendable {
    // Unchecked: `pending` is written on the event loop before `arrived` gets an element, and the
    // test reads it only after taking that element (the stream orders the two).
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var pending: ChannelHandlerContext?
    private let arrived = AsyncStream<Void>.makeStream()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending = context  // the request head arrives in one read in these tests
        arrived.continuation.yield()
    }

    /// Returns once a request has arrived (at once if one arrived since the last call).
    func waitUntilHolding() async {
        for await _ in arrived.stream { return }
    }

    /// Answers the held request with 200 `{"held":true}`.
    func release() {
        guard let context = pending else { return }
        context.eventLoop.execute {
            let body = #"{"held":true}"#
            let response = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            context.writeAndFlush(NIOAny(ByteBuffer(string: response)), promise: nil)
        }
    }
}
