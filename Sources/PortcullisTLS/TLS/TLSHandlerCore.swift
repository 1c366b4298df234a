internal import COpenSSL
import NIOCore

/// Carries out, for ``TLSServerHandler`` and ``TLSClientHandler``, what the
/// ``TLSConnectionStateMachine`` decides: moves bytes between the channel and the
/// ``SSLConnection``, and owns the resources the decisions refer to (buffered writes, the close
/// promise, the shutdown timer). Lives on the channel's event loop only.
final class TLSHandlerCore {
    private struct PendingWrite {
        var data: ByteBuffer
        var promise: EventLoopPromise<Void>?
    }

    private var machine = TLSConnectionStateMachine()
    private let connection: SSLConnection
    private let isServer: Bool
    private let shutdownTimeout: TimeAmount
    /// Application writes not yet encrypted; the first `flushedCount` of them have been flushed.
    private var pendingWrites = CircularBuffer<PendingWrite>()
    private var flushedCount = 0
    private var closePromise: EventLoopPromise<Void>?
    private var closeTimeout: Scheduled<Void>?

    /// Plaintext is decrypted into buffers of this size; one TLS record holds at most 16 KiB.
    private static let readChunkSize = 16 * 1024

    var state: TLSConnectionState { self.machine.state }

    init(connection: SSLConnection, isServer: Bool, shutdownTimeout: TimeAmount) {
        self.connection = connection
        self.isServer = isServer
        self.shutdownTimeout = shutdownTimeout
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        self.start(context: context)
    }

    private func start(context: ChannelHandlerContext) {
        guard self.machine.channelActive() == .startHandshake else { return }
        self.advanceHandshake(context: context)
        if self.machine.state == .handshaking {
            // The peer's first flight is needed whatever the application asked for; with
            // auto-read on this is a no-op, with it off the handshake would otherwise never start.
            context.read()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.cancelCloseTimeout()
        self.failPendingWrites(ChannelError.ioOnClosedChannel)
        switch self.machine.channelInactive() {
        case .reportHandshakeAborted:
            context.fireErrorCaught(TLSError.handshakeFailed(
                OpenSSLError(operation: "performing the TLS handshake", errors: ["connection closed during the handshake"])))
        case .reportUncleanShutdown:
            context.fireErrorCaught(TLSError.uncleanShutdown)
        case .succeedPendingClose:
            // The peer dropped the connection instead of answering our close_notify: closed all the same.
            self.closePromise?.succeed(())
            self.closePromise = nil
        case .none:
            break
        }
        context.fireChannelInactive()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: ByteBuffer) {
        switch self.machine.bytesReceived() {
        case .advanceHandshake:
            self.connection.receive(data)
            self.advanceHandshake(context: context)
        case .decrypt:
            self.connection.receive(data)
            self.decryptAvailable(context: context)
        case .discard:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.machine.state == .handshaking {
            // As in `start`: the handshake needs the next flight even if the application is not reading.
            context.read()
        }
        context.fireChannelReadComplete()
    }

    private func advanceHandshake(context: ChannelHandlerContext) {
        let outcome: TLSConnectionStateMachine.HandshakeOutcome
        switch self.connection.handshake() {
        case .complete: outcome = .complete
        case .wantsMoreInput: outcome = .needsInput
        case .closeNotify:
            outcome = .failed(.handshakeFailed(OpenSSLError(
                operation: "performing the TLS handshake", errors: ["peer sent close_notify during the handshake"])))
        case .failed(let error): outcome = .failed(.handshakeFailed(error))
        }
        switch self.machine.handshakeStepped(outcome) {
        case .completed:
            self.sendOutput(context: context)
            context.fireUserInboundEventTriggered(self.connection.handshakeSummary(includeClientCertificate: self.isServer))
            // Application data may have arrived together with the peer's last handshake flight.
            self.decryptAvailable(context: context)
            if self.machine.takeDeferredFlush() {
                self.encryptFlushedWrites(context: context)
            }
        case .awaitPeer:
            self.sendOutput(context: context)
        case .fail(let error):
            self.reportAndClose(context: context, error)
        case .none:
            break
        }
    }

    /// Decrypts everything OpenSSL can, passing plaintext on in chunks of up to 16 KiB.
    private func decryptAvailable(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: Self.readChunkSize)
        while self.machine.state == .active || self.machine.state == .closing {
            let step = self.connection.read(into: &buffer)
            if case .complete = step, buffer.writableBytes > 0 {
                continue  // room for more: keep filling this buffer
            }
            if buffer.readableBytes > 0 {
                context.fireChannelRead(NIOAny(buffer))
                buffer = context.channel.allocator.buffer(capacity: Self.readChunkSize)
            }
            switch step {
            case .complete:
                continue
            case .wantsMoreInput:
                // Reading can produce output too (TLS 1.3 key update replies).
                self.sendOutput(context: context)
                return
            case .closeNotify:
                self.closeNotifyReceived(context: context)
                return
            case .failed(let error):
                if self.machine.failed() == .failAndClose {
                    self.reportAndClose(context: context, .protocolFailure(error))
                }
                return
            }
        }
    }

    private func closeNotifyReceived(context: ChannelHandlerContext) {
        switch self.machine.closeNotifyReceived() {
        case .answerAndClose:
            self.failPendingWrites(TLSError.writeAfterClose)
            _ = self.connection.shutdown()
            self.sendOutputThenClose(context: context, promise: nil)
        case .completeClose:
            self.cancelCloseTimeout()
            let promise = self.closePromise
            self.closePromise = nil
            context.close(promise: promise)
        case .none:
            break
        }
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: ByteBuffer, promise: EventLoopPromise<Void>?) {
        switch self.machine.write() {
        case .buffer:
            self.pendingWrites.append(PendingWrite(data: data, promise: promise))
        case .failChannelClosed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        case .failWriteAfterClose:
            promise?.fail(TLSError.writeAfterClose)
        }
    }

    func flush(context: ChannelHandlerContext) {
        self.flushedCount = self.pendingWrites.count
        switch self.machine.flush() {
        case .encrypt:
            self.encryptFlushedWrites(context: context)
        case .deferUntilHandshake, .none:
            break
        }
    }

    private func encryptFlushedWrites(context: ChannelHandlerContext) {
        while self.flushedCount > 0, self.machine.state == .active {
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
                if self.machine.failed() == .failAndClose {
                    self.reportAndClose(context: context, failure)
                }
                return
            case .wantsMoreInput, .closeNotify:
                // SSL_write over memory BIOs does not return these; treat as the session ending.
                write.promise?.fail(TLSError.writeAfterClose)
            }
        }
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch self.machine.close(mode: mode) {
        case .forwardInputClose, .forwardClose:
            context.close(mode: mode, promise: promise)
        case .closeChannel:
            self.failPendingWrites(ChannelError.ioOnClosedChannel)
            context.close(mode: .all, promise: promise)
        case .joinPendingClose:
            guard let promise else { return }
            if let existing = self.closePromise {
                existing.futureResult.cascade(to: promise)
            } else {
                self.closePromise = promise
            }
        case .sendCloseNotify:
            // Flushed writes are already encrypted; unflushed ones are dropped, as NIO does.
            self.failPendingWrites(ChannelError.ioOnClosedChannel)
            let outcome: TLSConnectionStateMachine.ShutdownOutcome
            switch self.connection.shutdown() {
            case .complete, .closeNotify: outcome = .bothSent
            case .wantsMoreInput: outcome = .sent
            case .failed: outcome = .failed
            }
            switch self.machine.closeNotifyQueued(outcome, halfClose: mode == .output) {
            case .closeAfterOutput:
                self.sendOutputThenClose(context: context, promise: promise)
            case .closeNow:
                context.close(mode: .all, promise: promise)
            case .halfClose:
                self.sendOutput(context: context)
                context.close(mode: .output, promise: promise)
            case .awaitPeerCloseNotify:
                self.sendOutput(context: context)
                self.closePromise = promise
                self.closeTimeout = context.eventLoop.assumeIsolated().scheduleTask(in: self.shutdownTimeout) {
                    self.closeTimeout = nil
                    guard self.machine.shutdownTimedOut() else { return }
                    let promise = self.closePromise
                    self.closePromise = nil
                    context.close(promise: promise)
                }
            }
        }
    }

    // MARK: Helpers

    private func sendOutput(context: ChannelHandlerContext) {
        guard let records = self.connection.takeOutput(allocator: context.channel.allocator) else { return }
        context.writeAndFlush(NIOAny(records), promise: nil)
    }

    /// Sends what OpenSSL queued (an alert or close_notify) and closes once it is written.
    private func sendOutputThenClose(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard let records = self.connection.takeOutput(allocator: context.channel.allocator) else {
            context.close(promise: promise)
            return
        }
        context.writeAndFlush(NIOAny(records)).assumeIsolated().whenComplete { _ in
            context.close(promise: promise)
        }
    }

    /// Sends any alert, reports `error`, and closes. Never throws or traps: a bad peer costs one
    /// connection, not the loop. The state machine is already `closed` when this runs.
    /// The alert is written before the error is reported: a handler above that closes the channel
    /// on any error must not cut off the alert that tells the peer why (protocol_version, ...).
    private func reportAndClose(context: ChannelHandlerContext, _ error: TLSError) {
        self.cancelCloseTimeout()
        self.failPendingWrites(error)
        let promise = self.closePromise
        self.closePromise = nil
        guard let records = self.connection.takeOutput(allocator: context.channel.allocator) else {
            context.fireErrorCaught(error)
            context.close(promise: promise)
            return
        }
        let written = context.writeAndFlush(NIOAny(records))
        context.fireErrorCaught(error)
        written.assumeIsolated().whenComplete { _ in
            context.close(promise: promise)
        }
    }

    private func cancelCloseTimeout() {
        self.closeTimeout?.cancel()
        self.closeTimeout = nil
    }

    private func failPendingWrites(_ error: any Error) {
        self.flushedCount = 0
        while let write = self.pendingWrites.popFirst() {
            write.promise?.fail(error)
        }
    }
}
