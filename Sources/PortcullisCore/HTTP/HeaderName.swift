/// Header names the gateway acts on, recognised once while a head is parsed so that later
/// phases test an enum instead of comparing strings on every request.
public enum HeaderKind: UInt8, Sendable {
    case other
    case host
    case contentLength
    case transferEncoding
    case connection
    case keepAlive
    case proxyConnection
    case te
    case trailer
    case upgrade
    case expect
    case xForwardedFor
    case xForwardedProto
    case xForwardedHost
    case xRequestID
    case authorization
    case cookie
    case proxyAuthorization

    /// Hop-by-hop headers (RFC 9110 §7.6.1) never cross the proxy; Connection-named ones are handled separately.
    @inlinable
    public var isHopByHop: Bool {
        switch self {
        case .connection, .keepAlive, .proxyConnection, .te, .trailer, .transferEncoding, .upgrade,
            .proxyAuthorization:
            return true
        default:
            return false
        }
    }

    /// The kind of a header name given as text (config time): `.other` unless recognised.
    public init(name: String) {
        var n = name
        self = n.withUTF8 { Self.classify(UnsafeRawBufferPointer($0)) }
    }

    /// Classifies a header name by length first, then a case-insensitive byte comparison.
    @inlinable
    static func classify(_ p: UnsafeRawBufferPointer) -> HeaderKind {
        switch p.count {
        case 2: if ASCII.equalsLowercase(p, "te") { return .te }
        case 4: if ASCII.equalsLowercase(p, "host") { return .host }
        case 6:
            if ASCII.equalsLowercase(p, "expect") { return .expect }
            if ASCII.equalsLowercase(p, "cookie") { return .cookie }
        case 7:
            if ASCII.equalsLowercase(p, "upgrade") { return .upgrade }
            if ASCII.equalsLowercase(p, "trailer") { return .trailer }
        case 10:
            if ASCII.equalsLowercase(p, "connection") { return .connection }
            if ASCII.equalsLowercase(p, "keep-alive") { return .keepAlive }
        case 12: if ASCII.equalsLowercase(p, "x-request-id") { return .xRequestID }
        case 13: if ASCII.equalsLowercase(p, "authorization") { return .authorization }
        case 14: if ASCII.equalsLowercase(p, "content-length") { return .contentLength }
        case 15:
            if ASCII.equalsLowercase(p, "x-forwarded-for") { return .xForwardedFor }
        case 16:
            if ASCII.equalsLowercase(p, "proxy-connection") { return .proxyConnection }
            if ASCII.equalsLowercase(p, "x-forwarded-host") { return .xForwardedHost }
        case 17:
            if ASCII.equalsLowercase(p, "transfer-encoding") { return .transferEncoding }
            if ASCII.equalsLowercase(p, "x-forwarded-proto") { return .xForwardedProto }
        case 19: if ASCII.equalsLowercase(p, "proxy-authorization") { return .proxyAuthorization }
        default: break
        }
        return .other
    }
}

/// Byte helpers for ASCII protocol text; no Foundation, no allocation.
public enum ASCII {
    /// True when `p` equals `lower` ignoring ASCII case; `lower` must be lower-case.
    @inlinable
    public static func equalsLowercase(_ p: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        guard p.count == lower.utf8CodeUnitCount else { return false }
        let l = lower.utf8Start
        for i in 0..<p.count where ASCII.lower(p[i]) != l[i] { return false }
        return true
    }

    /// Case-insensitive comparison of two byte runs (ASCII letters only fold).
    @inlinable
    public static func equalsIgnoringCase(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where lower(a[i]) != lower(b[i]) { return false }
        return true
    }

    @inlinable
    public static func lower(_ c: UInt8) -> UInt8 { (c >= 0x41 && c <= 0x5A) ? c | 0x20 : c }

    /// RFC 9110 tchar.
    @inlinable
    public static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }
}
