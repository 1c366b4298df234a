/// The life of one TLS connection, as the handler sees it.
///
/// ```
/// idle --channel active--> handshaking --handshake done--> active
///   |                          |                             |  \-- peer close_notify --> closed
///   |                          |-- failure / close --------> |      (we answer with ours)
///   |                                                        v
///   +------------------ close() ------------------------> closing --peer close_notify / timeout /
///                                                                    channel inactive--> closed
/// ```
/// Writes made before `active` are buffered (with their flush marks) and encrypted once the
/// handshake completes; writes in `closing` or `closed` fail.
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

    var acceptsApplicationWrites: Bool {
        switch self {
        case .idle, .handshaking, .active: return true
        case .closing, .closed: return false
        }
    }

    var decryptsInput: Bool {
        self == .active || self == .closing
    }
}
