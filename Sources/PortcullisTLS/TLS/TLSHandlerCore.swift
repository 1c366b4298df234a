internal import COpenSSL
import NIOCore

/// The protocol logic shared by ``TLSServerHandler`` and ``TLSClientHandler``: drives one
/// ``SSLConnection`` from channel events. Lives on the channel's event loop only.
final class TLSHandlerCore {
    private struct PendingWrite {
        var data: ByteBuffer
        var promise: EventLoopPromise<Void>?
    }

    private(set) var state: TLSConnectionState = .idle
    private let connection: SSLConnection
    private let isServer: Bool
    private let shutdownTimeout: TimeAmount
    /// Application writes not yet encrypted; the first `flushedCount` of them have been flushed.
    private var pendingWrites = CircularBuffer<PendingWrite>()
    private var flushedCount = 0
    private var closePromise: EventLoopPromise<Void>?
    private var closeTimeout: Scheduled<Void>?

    init(connection: SSLConnection, isServer: Bool, shutdownTimeout: TimeAmount) {
        self.connection = connection
        self.isServer = isServer
        self.shutdownTimeout = shutdownTimeout
    }

    // MARK: Lifecycle events

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.startHandshake(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        self.startHandshake(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let previous = self.state
        self.state = .closed
        self.closeTimeout?.cancel()
        self.closeTimeout = nil
        self.failPendingWrites(ChannelError.ioOnClosedChannel)
        switch previous {
        case .handshaking:
            context.fireErrorCaught(TLSError.handshakeFailed(
                OpenSSLError(operation: "performing the TLS handshake", errors: ["connection closed during the handshake"])))
        case .active:
            context.fireErrorCaught(TLSError.uncleanShutdown)
        case .closing:
            // The peer dropped the connection instead of answering our close_notify: still closed.
            self.closePromise?.succeed(())
            self.closePromise = nil
        case .idle, .closed:
            break
        }
        context.fireChannelInactive()
    }

    private func startHandshake(context: ChannelHandlerContext) {
        guard self.state == .idle else { return }
        self.state = .handshaking
        self.advanceHandshake(context: context)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: ByteBuffer) {
        switch self.state {
        case .closed:
            return  // after a failure or close: nothing more is interpreted
        case .idle:
            self.connection.receive(data)
            self.startHandshake(context: context)
        case .handshaking:
            self.connection.receive(data)
            self.advanceHandshake(context: context)
        case .active, .closing:
            self.connection.receive(data)
            self.decryptAvailable(context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.state == .handshaking {
            // The handshake needs the peer's next flight whatever the application asked for,
            // so ask for it even when auto-read is off (with auto-read on this is a no-op).
            context.read()
        }
        context.fireChannelReadComplete()
    }

    private func advanceHandshake(context: ChannelHandlerContext) {
        switch self.connection.handshake() {
        case .complete:
            self.flushNetworkOutput(context: context)
            self.state = .active
            context.fireUserInboundEventTriggered(
                self.connection.handshakeSummary(includeClientCertificate: self.isServer))
            // Application data may have arrived together with the peer's last handshake flight.
            self.decryptAvailable(context: context)
            if self.state == .active, self.flushedCount > 0 {
                self.encryptFlushedWrites(context: context)
            }
        case .wantsMoreInput:
            self.flushNetworkOutput(context: context)
        case .closeNotify:
            self.fail(context: context, TLSError.handshakeFailed(
                OpenSSLError(operation: "performing the TLS handshake", errors: ["peer sent close_notify during the handshake"])))
        case .failed(let error):
            self.fail(context: context, TLSError.handshakeFailed(error))
        }
    }

    /// Decrypts everything buffered, passing each chunk on; stops when OpenSSL needs more input.
    private func decryptAvailable(context: ChannelHandlerContext) {
        while self.state.decryptsInput {
            var buffer = context.channel.allocator.buffer(capacity: 16 * 1024)
            switch self.connection.read(into: &buffer) {
            case .complete:
                context.fireChannelRead(NIOAny(buffer))
            case .wantsMoreInput:
                // Reading can produce output too (TLS 1.3 key update replies).
                self.flushNetworkOutput(context: context)
                return
            case .closeNotify:
                self.receivedCloseNotify(context: context)
                return
            case .failed(let error):
                self.fail(context: context, TLSError.protocolFailure(error))
                return
            }
        }
    }

    private func receivedCloseNotify(context: ChannelHandlerContext) {
        switch self.state {
        case .active:
            // The peer is done: answer with our close_notify, then close the connection once
            // it has been written.
            self.state = .closed
            self.failPendingWrites(TLSError.writeAfterClose)
            _ = self.connection.shutdown()
            self.flushNetworkOutputThenClose(context: context, promise: nil)
        case .closing:
            // The answer to our own close_notify: the TLS session ended cleanly.
            self.state = .closed
            self.closeTimeout?.cancel()
            self.closeTimeout = nil
            let promise = self.closePromise
            self.closePromise = nil
            context.close(promise: promise)
        case .idle, .handshaking, .closed:
            break
        }
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard self.state.acceptsApplicationWrites else {
            promise?.fail(self.state == .closed ? ChannelError.ioOnClosedChannel : TLSError.writeAfterClose)
            return
        }
        self.pendingWrites.append(PendingWrite(data: data, promise: promise))
    }

    func flush(context: ChannelHandlerContext) {
        self.flushedCount = self.pendingWrites.count
        if self.state == .active {
            self.encryptFlushedWrites(context: context)
        }
        // Before the handshake completes the flush is remembered in `flushedCount`.
    }

    private func encryptFlushedWrites(context: ChannelHandlerContext) {
        while self.flushedCount > 0, self.state == .active {
            let write = self.pendingWrites.removeFirst()
            self.flushedCount -= 1
            switch self.connection.write(write.data) {
            case .complete:
                if let records = self.connection.takeOutput(allocator: context.channel.allocator) {
                    context.write(NIOAny(records), promise: write.promise)
                } else {
                    write.promise?.succeed(())  // an empty write
                }
            case .failed(let error):
                let failure = TLSError.protocolFailure(error)
                write.promise?.fail(failure)
                self.fail(context: context, failure)
                return
            case .wantsMoreInput, .closeNotify:
                // Not produced by SSL_write over memory BIOs; treat as the session ending.
                write.promise?.fail(TLSError.writeAfterClose)
            }
        }
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .input {
            context.close(mode: mode, promise: promise)
            return
        }
        switch self.state {
        case .idle, .handshaking:
            self.state = .closed
            self.failPendingWrites(ChannelError.ioOnClosedChannel)
            context.close(mode: .all, promise: promise)
        case .active:
            // Flushed writes are already encrypted; unflushed ones are dropped as NIO does.
            self.failPendingWrites(ChannelError.ioOnClosedChannel)
            self.state = .closing
            switch self.connection.shutdown() {
            case .complete, .closeNotify:
                self.state = .closed
                self.flushNetworkOutputThenClose(context: context, promise: promise)
            case .failed:
                self.state = .closed
                context.close(mode: .all, promise: promise)
            case .wantsMoreInput:
                self.flushNetworkOutput(context: context)
                if mode == .output {
                    // Half-close: our side is done; keep reading until the peer's close_notify.
                    context.close(mode: .output, promise: promise)
                } else {
                    self.closePromise = promise
                    self.closeTimeout = context.eventLoop.assumeIsolated().scheduleTask(in: self.shutdownTimeout) {
                        self.shutdownTimedOut(context: context)
                    }
                }
            }
        case .closing:
            if let promise {
                if let existing = self.closePromise {
                    existing.futureResult.cascade(to: promise)
                } else {
                    self.closePromise = promise
                }
            }
        case .closed:
            promise?.fail(ChannelError.alreadyClosed)
        }
    }

    private func shutdownTimedOut(context: ChannelHandlerContext) {
        guard self.state == .closing else { return }
        self.state = .closed
        self.closeTimeout = nil
        let promise = self.closePromise
        self.closePromise = nil
        context.close(promise: promise)
    }

    // MARK: Helpers

    private func flushNetworkOutput(context: ChannelHandlerContext) {
        guard let records = self.connection.takeOutput(allocator: context.channel.allocator) else { return }
        context.writeAndFlush(NIOAny(records), promise: nil)
    }

    /// Sends what OpenSSL queued (an alert or close_notify) and closes once it is written.
    private func flushNetworkOutputThenClose(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard let records = self.connection.takeOutput(allocator: context.channel.allocator) else {
            context.close(promise: promise)
            return
        }
        context.writeAndFlush(NIOAny(records)).assumeIsolated().whenComplete { _ in
            context.close(promise: promise)
        }
    }

    /// Sends any alert, reports `error`, and closes. Never throws or traps: a bad peer costs one
    /// connection, not the loop.
    private func fail(context: ChannelHandlerContext, _ error: TLSError) {
        guard self.state != .closed else { return }
        self.state = .closed
        self.closeTimeout?.cancel()
        self.closeTimeout = nil
        self.failPendingWrites(error)
        context.fireErrorCaught(error)
        let promise = self.closePromise
        self.closePromise = nil
        self.flushNetworkOutputThenClose(context: context, promise: promise)
    }

    private func failPendingWrites(_ error: any Error) {
        self.flushedCount = 0
        while let write = self.pendingWrites.popFirst() {
            write.promise?.fail(error)
        }
    }
}
