import NIOCore

/// The life of one TLS connection, as the handler sees it.
///
/// ```
/// idle --active--> handshaking --handshake done--> active --peer close_notify--> closed
///                       |                            |          (we answer with ours)
///                       +-- failure / close() -----> |
///                                                    +--close()--> closing --peer close_notify,
///                                                                  timeout, or inactive--> closed
/// ```
enum TLSConnectionState: Equatable {
    /// Handler added, channel not active yet.
    case idle
    /// Handshake messages are being exchanged; application writes are buffered.
    case handshaking
    /// Application data flows both ways.
    case active
    /// We sent close_notify and are waiting for the peer's (or for the timeout).
    case closing
    /// Nothing more will be read or written.
    case closed
}

/// The bookkeeping of one TLS connection, free of OpenSSL and of channels: each event returns
/// the action the handler must carry out, so every transition can be tested as a table.
struct TLSConnectionStateMachine {
    private(set) var state: TLSConnectionState = .idle
    /// A flush arrived before the handshake finished: buffered writes go out once it does.
    private var flushDeferred = false

    // MARK: Handshake

    enum StartAction: Equatable {
        case startHandshake
        case none
    }

    /// The channel is (or became) active.
    mutating func channelActive() -> StartAction {
        guard self.state == .idle else { return .none }
        self.state = .handshaking
        return .startHandshake
    }

    enum InboundAction: Equatable {
        /// Feed the bytes to OpenSSL and advance the handshake.
        case advanceHandshake
        /// Feed the bytes to OpenSSL and decrypt application data.
        case decrypt
        /// The session is over; ignore the bytes.
        case discard
    }

    mutating func bytesReceived() -> InboundAction {
        switch self.state {
        case .idle:
            // Data before channelActive (should not happen): treat it as the start.
            self.state = .handshaking
            return .advanceHandshake
        case .handshaking:
            return .advanceHandshake
        case .active, .closing:
            return .decrypt
        case .closed:
            return .discard
        }
    }

    enum HandshakeOutcome: Equatable {
        case complete
        case needsInput
        case failed(TLSError)
    }

    enum HandshakeAction: Equatable {
        /// Send output, announce the handshake, decrypt anything that came with the last flight,
        /// then ask ``takeDeferredFlush()`` whether buffered writes should go out.
        case completed
        /// Send output and wait for the peer's next flight.
        case awaitPeer
        /// Send output (an alert), report the error and close.
        case fail(TLSError)
        case none
    }

    mutating func handshakeStepped(_ outcome: HandshakeOutcome) -> HandshakeAction {
        guard self.state == .handshaking else { return .none }
        switch outcome {
        case .complete:
            self.state = .active
            return .completed
        case .needsInput:
            return .awaitPeer
        case .failed(let error):
            self.state = .closed
            return .fail(error)
        }
    }

    /// Whether writes flushed during the handshake should be encrypted now.
    mutating func takeDeferredFlush() -> Bool {
        guard self.state == .active, self.flushDeferred else { return false }
        self.flushDeferred = false
        return true
    }

    // MARK: Application data

    enum WriteAction: Equatable {
        case buffer
        case failChannelClosed
        case failWriteAfterClose
    }

    mutating func write() -> WriteAction {
        switch self.state {
        case .idle, .handshaking, .active: return .buffer
        case .closing: return .failWriteAfterClose
        case .closed: return .failChannelClosed
        }
    }

    enum FlushAction: Equatable {
        case encrypt
        case deferUntilHandshake
        case none
    }

    mutating func flush() -> FlushAction {
        switch self.state {
        case .idle, .handshaking:
            self.flushDeferred = true
            return .deferUntilHandshake
        case .active:
            return .encrypt
        case .closing, .closed:
            return .none
        }
    }

    enum FailAction: Equatable {
        /// Report the error, fail pending writes, send any alert and close.
        case failAndClose
        /// Already closed: nothing more to report.
        case none
    }

    /// A read or write failed after the handshake.
    mutating func failed() -> FailAction {
        guard self.state != .closed else { return .none }
        self.state = .closed
        return .failAndClose
    }

    // MARK: Closing

    enum CloseNotifyAction: Equatable {
        /// The peer ended the session: answer with our close_notify, then close the channel.
        case answerAndClose
        /// The peer answered our close_notify: close the channel, completing the close promise.
        case completeClose
        case none
    }

    mutating func closeNotifyReceived() -> CloseNotifyAction {
        switch self.state {
        case .active:
            self.state = .closed
            return .answerAndClose
        case .closing:
            self.state = .closed
            return .completeClose
        case .idle, .handshaking, .closed:
            return .none
        }
    }

    enum CloseAction: Equatable {
        /// Only the input side: pass it on, the TLS session is unaffected.
        case forwardInputClose
        /// No session yet (or a broken one): close the channel straight away.
        case closeChannel
        /// Queue our close_notify and report what ``closeNotifyQueued(_:halfClose:)`` says.
        case sendCloseNotify
        /// A close is already under way; chain this promise to it.
        case joinPendingClose
        /// The session is over; let the channel answer (it may still be open).
        case forwardClose
    }

    mutating func close(mode: CloseMode) -> CloseAction {
        if mode == .input { return .forwardInputClose }
        switch self.state {
        case .idle, .handshaking:
            self.state = .closed
            return .closeChannel
        case .active:
            self.state = .closing
            return .sendCloseNotify
        case .closing:
            return .joinPendingClose
        case .closed:
            return .forwardClose
        }
    }

    enum ShutdownOutcome: Equatable {
        /// Our close_notify is queued; the peer's has not arrived.
        case sent
        /// Both close_notifys have now been exchanged.
        case bothSent
        case failed
    }

    enum CloseNotifyQueuedAction: Equatable {
        /// Send output, then close the whole channel.
        case closeAfterOutput
        /// Send output, close our output side only, keep reading until the peer's close_notify.
        case halfClose
        /// Send output and wait (bounded by the shutdown timeout) for the peer's close_notify.
        case awaitPeerCloseNotify
        /// Could not even queue close_notify: close now.
        case closeNow
    }

    mutating func closeNotifyQueued(_ outcome: ShutdownOutcome, halfClose: Bool) -> CloseNotifyQueuedAction {
        switch outcome {
        case .bothSent:
            self.state = .closed
            return .closeAfterOutput
        case .failed:
            self.state = .closed
            return .closeNow
        case .sent:
            return halfClose ? .halfClose : .awaitPeerCloseNotify
        }
    }

    /// The wait for the peer's close_notify ran out. Returns whether to close the channel now.
    mutating func shutdownTimedOut() -> Bool {
        guard self.state == .closing else { return false }
        self.state = .closed
        return true
    }

    enum InactiveAction: Equatable {
        case reportHandshakeAborted
        case reportUncleanShutdown
        case succeedPendingClose
        case none
    }

    mutating func channelInactive() -> InactiveAction {
        let previous = self.state
        self.state = .closed
        switch previous {
        case .handshaking: return .reportHandshakeAborted
        case .active: return .reportUncleanShutdown
        case .closing: return .succeedPendingClose
        case .idle, .closed: return .none
        }
    }
}
