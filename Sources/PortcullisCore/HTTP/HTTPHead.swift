public import NIOCore

/// How the end of a message body is found (RFC 9112 §6.3).
public enum BodyFraming: Equatable, Sendable {
    case none
    case length(Int64)
    case chunked
    /// Responses only: the body ends when the upstream closes.
    case untilClose
}

public enum HTTPVersion: Equatable, Sendable {
    case http10
    case http11
}

/// A request method; the common ones are compared as enum cases, the rest by name.
public enum RequestMethod: Equatable, Hashable, Sendable {
    case GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE, CONNECT
    case other(String)

    public init(_ name: String) {
        switch name {
        case "GET": self = .GET
        case "HEAD": self = .HEAD
        case "POST": self = .POST
        case "PUT": self = .PUT
        case "DELETE": self = .DELETE
        case "PATCH": self = .PATCH
        case "OPTIONS": self = .OPTIONS
        case "TRACE": self = .TRACE
        case "CONNECT": self = .CONNECT
        default: self = .other(name)
        }
    }

    public var name: String {
        switch self {
        case .GET: return "GET"
        case .HEAD: return "HEAD"
        case .POST: return "POST"
        case .PUT: return "PUT"
        case .DELETE: return "DELETE"
        case .PATCH: return "PATCH"
        case .OPTIONS: return "OPTIONS"
        case .TRACE: return "TRACE"
        case .CONNECT: return "CONNECT"
        case .other(let n): return n
        }
    }
}

/// One header line inside a head's raw bytes: offsets from the start of `raw`.
public struct HeaderField: Sendable {
    public var nameStart: Int32
    public var nameLength: Int32
    public var valueStart: Int32
    public var valueLength: Int32
    public var kind: HeaderKind
    /// Named in the message's Connection header: hop-by-hop for this message only.
    public var nominatedByConnection: Bool
}

/// The fields both request and response heads share: the raw bytes and an index into them.
/// Values are read lazily from `raw`, so a parsed head costs one array, not one String per header.
public struct HeaderBlock: Sendable {
    public var raw: ByteBuffer
    public var fields: [HeaderField]

    public init(raw: ByteBuffer, fields: [HeaderField]) {
        self.raw = raw
        self.fields = fields
    }

    @inlinable
    public func withName<R>(_ field: HeaderField, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        raw.withUnsafeReadableBytes { p in
            body(UnsafeRawBufferPointer(rebasing: p[Int(field.nameStart)..<Int(field.nameStart + field.nameLength)]))
        }
    }

    @inlinable
    public func withValue<R>(_ field: HeaderField, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        raw.withUnsafeReadableBytes { p in
            body(UnsafeRawBufferPointer(rebasing: p[Int(field.valueStart)..<Int(field.valueStart + field.valueLength)]))
        }
    }

    public func name(_ field: HeaderField) -> String { withName(field) { String(decoding: $0, as: UTF8.self) } }
    public func value(_ field: HeaderField) -> String { withValue(field) { String(decoding: $0, as: UTF8.self) } }

    /// The first field of a recognised kind: a comparison of the kind the parser recorded, no
    /// bytes read.
    @inlinable
    public func firstField(_ kind: HeaderKind) -> HeaderField? {
        for f in fields where f.kind == kind { return f }
        return nil
    }

    /// The first value of a header of a recognised kind.
    public func first(_ kind: HeaderKind) -> String? {
        firstField(kind).map(value)
    }

    /// The first value of a header by lower-case name (a config-time string).
    public func first(named lowercasedName: String) -> String? {
        firstField(named: lowercasedName).map(value)
    }

    /// Reads the first value of a header by lower-case name (a config-time string) in place.
    /// Inlinable around the non-generic lookup, so a caller reads the value in code specialized
    /// for its result: the generic lookup instantiated the result type's metadata at run time
    /// on every call.
    @inlinable
    public func withFirstValue<R>(named lowercasedName: String, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        firstField(named: lowercasedName).map { withValue($0, body) }
    }

    /// Reads the first value of a header by lower-case name in place, without making a String.
    @inlinable
    public func withFirstValue<R>(named lowercasedName: StaticString, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        firstField(nameBytes: UnsafeRawBufferPointer(start: lowercasedName.utf8Start, count: lowercasedName.utf8CodeUnitCount))
            .map { withValue($0, body) }
    }

    /// The first field of a header by lower-case name (a config-time string).
    public func firstField(named lowercasedName: String) -> HeaderField? {
        var name = lowercasedName
        return name.withUTF8 { firstField(nameBytes: UnsafeRawBufferPointer($0)) }
    }

    /// The one lookup every name form uses: fields of the name's length, compared ignoring case.
    /// Not generic: no type metadata to find per call, inlined or not.
    @inlinable
    func firstField(nameBytes name: UnsafeRawBufferPointer) -> HeaderField? {
        for f in fields where Int(f.nameLength) == name.count {
            if withName(f, { ASCII.equalsIgnoringCase($0, name) }) { return f }
        }
        return nil
    }

    /// All (name, value) pairs as Strings: for tests, the echo server and logs, not the hot path.
    public var pairs: [(String, String)] { fields.map { (name($0), value($0)) } }
}

/// A parsed request head (request line and header block).
public struct HTTPRequestHead: Sendable {
    public var headers: HeaderBlock
    public var method: RequestMethod
    public var version: HTTPVersion
    /// Offsets of the request target (path and query) inside `headers.raw`.
    public var targetStart: Int32
    public var targetLength: Int32
    /// Length of the path part of the target (before `?`).
    public var pathLength: Int32
    /// For an absolute-form target (`GET http://host/path`), the authority's offset and length;
    /// it names the host instead of the Host header (RFC 9112 §3.2.2). -1 for origin-form.
    public var authorityStart: Int32 = -1
    public var authorityLength: Int32 = 0
    public var framing: BodyFraming
    public var keepAlive: Bool
    public var expectContinue: Bool
    /// `Connection: upgrade` together with an `Upgrade` header.
    public var wantsUpgrade: Bool

    public var target: String {
        headers.raw.withUnsafeReadableBytes { p in
            String(decoding: p[Int(targetStart)..<Int(targetStart + targetLength)], as: UTF8.self)
        }
    }
    public var path: String {
        headers.raw.withUnsafeReadableBytes { p in
            String(decoding: p[Int(targetStart)..<Int(targetStart + pathLength)], as: UTF8.self)
        }
    }
    /// The query string without `?`, or empty.
    public var query: String {
        guard targetLength > pathLength else { return "" }
        return headers.raw.withUnsafeReadableBytes { p in
            String(decoding: p[Int(targetStart + pathLength + 1)..<Int(targetStart + targetLength)], as: UTF8.self)
        }
    }
}

/// A parsed response head (status line and header block).
public struct HTTPResponseHead: Sendable {
    public var headers: HeaderBlock
    public var version: HTTPVersion
    public var status: Int
    /// Offset of the reason phrase inside raw and its length (may be empty).
    public var reasonStart: Int32
    public var reasonLength: Int32
    public var framing: BodyFraming
    public var keepAlive: Bool
}
