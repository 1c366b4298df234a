public import NIOCore

/// Terminates TLS on one accepted connection: ciphertext below, plaintext `ByteBuffer`s above.
///
/// Create one per connection from a shared ``TLSServerContext``. After the handshake it fires a
/// ``TLSHandshakeCompleted`` user event (with the verified client certificate, if any) before any
/// application data. Failures fire a ``TLSError`` and close the channel.
///
/// Not `Sendable`: like every channel handler it belongs to its channel's event loop.
public final class TLSServerHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let core: TLSHandlerCore

    /// - Parameter shutdownTimeout: how long `close()` waits for the client's close_notify.
    public init(context: TLSServerContext, shutdownTimeout: TimeAmount = .seconds(3)) throws {
        let connection = try SSLConnection(context: context.defaultContext, owner: context, isServer: true)
        self.core = TLSHandlerCore(connection: connection, isServer: true, shutdownTimeout: shutdownTimeout)
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
extension TLSServerHandler: Sendable {}
