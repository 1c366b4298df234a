public import NIOCore

/// Speaks TLS as a client on one outgoing connection: ciphertext below, plaintext `ByteBuffer`s above.
///
/// Create one per connection from a shared ``TLSClientContext``. After the handshake it fires a
/// ``TLSHandshakeCompleted`` user event before any application data. Failures fire a ``TLSError`` and close the channel.
///
/// Not `Sendable`: like every channel handler it belongs to its channel's event loop.
public final class TLSClientHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let core: TLSHandlerCore

    /// - Parameters:
    ///   - serverHostname: sent as SNI (unless an IP literal) and, when the context verifies host
    ///     names, matched against the server certificate. `nil` sends no SNI and skips the match.
    ///   - shutdownTimeout: how long `close()` waits for the server's close_notify.
    public init(context: TLSClientContext, serverHostname: String?, shutdownTimeout: TimeAmount = .seconds(3)) throws {
        let connection = try SSLConnection(context: context.handle, owner: context, isServer: false)
        try connection.configureClient(
            serverHostname: serverHostname, verifyHostname: context.configuration.verifyHostname)
        self.core = TLSHandlerCore(connection: connection, isServer: false, shutdownTimeout: shutdownTimeout)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.core.handlerAdded(context: context)
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.core.channelActive(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.core.channelInactive(context: context)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.core.channelRead(context: context, data: self.unwrapInboundIn(data))
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        self.core.channelReadComplete(context: context)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        self.core.write(context: context, data: self.unwrapOutboundIn(data), promise: promise)
    }

    public func flush(context: ChannelHandlerContext) {
        self.core.flush(context: context)
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        self.core.close(context: context, mode: mode, promise: promise)
    }
}

@available(*, unavailable)
extension TLSClientHandler: Sendable {}
