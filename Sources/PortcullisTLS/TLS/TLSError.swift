/// Failures of TLS setup (contexts) and of TLS connections (handlers).
public enum TLSError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A certificate or key file could not be used; `path` names the file, `reason` says why.
    case certificate(path: String, reason: String)
    /// The configuration is inconsistent (for example client auth without a CA file).
    case invalidConfiguration(String)
    /// The handshake failed; the drained OpenSSL queue (and verify result, if any) say why.
    case handshakeFailed(OpenSSLError)
    /// Reading or writing application data failed after the handshake.
    case protocolFailure(OpenSSLError)
    /// The peer closed the connection without sending close_notify (possible truncation).
    case uncleanShutdown
    /// A write was attempted after the TLS session began closing.
    case writeAfterClose

    public var description: String {
        switch self {
        case .certificate(let path, let reason): return "\(path): \(reason)"
        case .invalidConfiguration(let what): return "invalid TLS configuration: \(what)"
        case .handshakeFailed(let error): return "TLS handshake failed: \(error.errors.joined(separator: "; "))"
        case .protocolFailure(let error): return "TLS error: \(error.errors.joined(separator: "; "))"
        case .uncleanShutdown: return "TLS peer closed the connection without close_notify"
        case .writeAfterClose: return "write after TLS close"
        }
    }
}
