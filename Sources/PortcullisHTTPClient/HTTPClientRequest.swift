import NIOCore

/// One request as the caller describes it. The client adds `Host` (unless given) and
/// `Content-Length`; framing headers are the client's job, so setting them here is refused.
public struct HTTPClientRequest: Sendable {
    public var method: String
    /// Scheme, host and port pick the connection pool; the target is sent on the request line.
    public var url: HTTPURL
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// May be sent a second time, on a fresh connection, when a reused keep-alive connection
    /// closes before any response byte (a server's idle close racing the request): the server
    /// may have acted on the first copy. By default only idempotent methods (RFC 9110 §9.2.2);
    /// a caller whose POST is safe to repeat (an authorizer query) says so.
    public var retryable: Bool

    public init(
        method: String = "GET", url: HTTPURL, headers: [(String, String)] = [], body: [UInt8]? = nil, retryable: Bool? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.retryable = retryable ?? Self.idempotentMethods.contains(method)
    }

    static let idempotentMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]

    /// The request as bytes on the wire: head and body in one buffer, so that a retry on a fresh
    /// connection sends exactly the same bytes again.
    func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(HTTPClientError) -> ByteBuffer {
        guard !method.isEmpty, method.utf8.allSatisfy(Self.isTokenByte) else {
            throw .invalidRequest("method \"\(method)\" is not an HTTP token")
        }
        var hasHost = false
        for (name, value) in headers {
            guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte) else {
                throw .invalidRequest("header name \"\(name)\" is not an HTTP token")
            }
            // CR, LF and NUL would let a value end the header early (request splitting).
            guard value.utf8.allSatisfy({ $0 != 13 && $0 != 10 && $0 != 0 }) else {
                throw .invalidRequest("header \(name) has a line break in its value")
            }
            switch name.lowercased() {
            case "host": hasHost = true
            case "content-length", "transfer-encoding":
                throw .invalidRequest("\(name) is set by the client from the body")
            default: break
            }
        }
        var out = allocator.buffer(capacity: 256 + (body?.count ?? 0))
        out.writeString(method)
        out.writeString(" ")
        out.writeString(url.target)
        out.writeString(" HTTP/1.1\r\n")
        if !hasHost {
            out.writeString("Host: ")
            out.writeString(url.hostHeader)
            out.writeString("\r\n")
        }
        for (name, value) in headers {
            out.writeString(name)
            out.writeString(": ")
            out.writeString(value)
            out.writeString("\r\n")
        }
        if let body {
            out.writeString("Content-Length: \(body.count)\r\n\r\n")
            out.writeBytes(body)
        } else if Self.bodyExpected(method) {
            // A POST without a length is ambiguous to some servers (RFC 9110 §8.6 asks for 0).
            out.writeString("Content-Length: 0\r\n\r\n")
        } else {
            out.writeString("\r\n")
        }
        return out
    }

    static func bodyExpected(_ method: String) -> Bool {
        method == "POST" || method == "PUT" || method == "PATCH"
    }

    /// tchar of RFC 9110 §5.6.2.
    static func isTokenByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }
}
