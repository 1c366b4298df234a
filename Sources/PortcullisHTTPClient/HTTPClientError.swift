/// Why a request made with `HTTPClient` did not produce a response. Every case says which side
/// is to blame in its description, so a log line needs no further context than the URL.
public enum HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request itself cannot be sent (bad method or header text, framing headers set by hand).
    case invalidRequest(String)
    /// An https URL, but the client was made without a `TLSClientContext`.
    case tlsNotConfigured
    /// No connection could be made: refused, unreachable, connect timeout, or a failed TLS handshake.
    case connectFailed(String)
    /// The connection failed after it was made, while the request was in flight.
    case connectionFailed(String)
    /// The server's bytes are not an HTTP/1.1 response we accept.
    case invalidResponse(String)
    /// The response body is larger than the configured cap (the cap is carried).
    case tooLarge(Int)
    /// The request's deadline passed before the response was complete; its connection is closed.
    case timedOut
    /// The server closed the connection before the response was complete.
    case closedEarly

    public var description: String {
        switch self {
        case .invalidRequest(let why): return "invalid request: \(why)"
        case .tlsNotConfigured: return "https is not configured for this client"
        case .connectFailed(let why): return "connect failed: \(why)"
        case .connectionFailed(let why): return "connection failed: \(why)"
        case .invalidResponse(let why): return "invalid HTTP response: \(why)"
        case .tooLarge(let n): return "response body larger than \(n) bytes"
        case .timedOut: return "timed out"
        case .closedEarly: return "connection closed before the response was complete"
        }
    }
}
