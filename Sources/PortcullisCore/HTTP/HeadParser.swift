public import NIOCore

/// Limits applied while a head is parsed.
public struct HeadLimits: Sendable {
    public var maxHeaders: Int
    /// The longest header field line, `name: value` without its CRLF. 8 KiB by default, the size of
    /// nginx's `large_client_header_buffers`: a line that an upstream with nginx's defaults would
    /// refuse is refused here, the same way for every upstream.
    public var maxFieldLineBytes: Int
    public init(maxHeaders: Int = 100, maxFieldLineBytes: Int = 8192) {
        self.maxHeaders = maxHeaders
        self.maxFieldLineBytes = maxFieldLineBytes
    }
}

/// Why a head was refused; the proxy maps each case to one gateway response.
public enum HeadParseError: Error, Equatable, Sendable {
    /// 400: the bytes are not HTTP/1.x.
    case malformed(String)
    /// 431: more header lines than allowed.
    case tooManyHeaders
    /// 431: one header field line (`name: value`, without CRLF) longer than `limit` bytes.
    case fieldLineTooLong(limit: Int)
    /// 505
    case unsupportedVersion
    /// 501: a transfer coding other than chunked.
    case unsupportedTransferCoding
    /// 417: an Expect other than 100-continue.
    case unsupportedExpectation
}

/// Finds the end of a head (the empty line) in bytes that may arrive in pieces.
public enum HeadScanner {
    /// Returns the head's length including the final CRLF CRLF, or nil if it is not complete yet.
    /// `scanned` remembers how far earlier calls looked, so a slow client costs linear time.
    @inlinable
    public static func headLength(in buffer: ByteBuffer, scanned: inout Int) -> Int? {
        buffer.withUnsafeReadableBytes { p -> Int? in
            let n = p.count
            var i = max(scanned, 3)
            guard let base = p.baseAddress else { return nil }
            while i < n {
                guard let hit = memchrLF(base + i, n - i) else { break }
                let j = base.distance(to: hit)
                if p[j - 1] == 13 && p[j - 2] == 10 && p[j - 3] == 13 {
                    return j + 1
                }
                i = j + 1
            }
            scanned = max(n - 1, 3)
            return nil
        }
    }

    @inlinable
    static func memchrLF(_ start: UnsafeRawPointer, _ count: Int) -> UnsafeRawPointer? {
        // A plain loop: the compiler vectorises it, and it keeps Glibc out of the public surface.
        let bytes = start.assumingMemoryBound(to: UInt8.self)
        for k in 0..<count where bytes[k] == 10 { return start + k }
        return nil
    }
}

/// Parses complete heads (as delimited by `HeadScanner`) into an index over their bytes.
public enum HeadParser {
    public static func parseRequest(
        _ raw: ByteBuffer,
        limits: HeadLimits,
        reusing fields: inout [HeaderField]
    ) throws(HeadParseError) -> HTTPRequestHead {
        fields.removeAll(keepingCapacity: true)
        let line = try raw.withUnsafeReadableBytes { (p) throws(HeadParseError) -> RequestLine in
            try parseRequestLine(p)
        }
        let headerStart = line.end
        try raw.withUnsafeReadableBytes { (p) throws(HeadParseError) in
            try parseFields(p, from: headerStart, limits: limits, into: &fields)
        }
        var head = HTTPRequestHead(
            headers: HeaderBlock(raw: raw, fields: fields),
            method: line.method,
            version: line.version,
            targetStart: line.targetStart,
            targetLength: line.targetLength,
            pathLength: line.pathLength,
            authorityStart: line.authorityStart,
            authorityLength: line.authorityLength,
            framing: .none,
            keepAlive: line.version == .http11,
            expectContinue: false,
            wantsUpgrade: false
        )
        try RequestSemantics.apply(to: &head)
        return head
    }

    public static func parseResponse(
        _ raw: ByteBuffer,
        requestMethod: RequestMethod,
        limits: HeadLimits,
        reusing fields: inout [HeaderField]
    ) throws(HeadParseError) -> HTTPResponseHead {
        fields.removeAll(keepingCapacity: true)
        let line = try raw.withUnsafeReadableBytes { (p) throws(HeadParseError) -> StatusLine in
            try parseStatusLine(p)
        }
        let headerStart = line.end
        try raw.withUnsafeReadableBytes { (p) throws(HeadParseError) in
            try parseFields(p, from: headerStart, limits: limits, into: &fields)
        }
        var head = HTTPResponseHead(
            headers: HeaderBlock(raw: raw, fields: fields),
            version: line.version,
            status: line.status,
            reasonStart: line.reasonStart,
            reasonLength: line.reasonLength,
            framing: .untilClose,
            keepAlive: line.version == .http11
        )
        try ResponseSemantics.apply(to: &head, requestMethod: requestMethod)
        return head
    }

    struct RequestLine {
        var method: RequestMethod
        var version: HTTPVersion
        var targetStart: Int32
        var targetLength: Int32
        var pathLength: Int32
        var authorityStart: Int32
        var authorityLength: Int32
        var end: Int
    }

    struct StatusLine {
        var version: HTTPVersion
        var status: Int
        var reasonStart: Int32
        var reasonLength: Int32
        var end: Int
    }

    static func parseRequestLine(_ p: UnsafeRawBufferPointer) throws(HeadParseError) -> RequestLine {
        let n = p.count
        var i = 0
        while i < n && ASCII.isTokenChar(p[i]) { i += 1 }
        guard i > 0, i < n, p[i] == 32 else { throw .malformed("invalid method") }
        let method = methodFrom(UnsafeRawBufferPointer(rebasing: p[0..<i]))
        i += 1
        let targetStart = i
        var pathEnd = -1
        while i < n && p[i] > 32 && p[i] != 127 {
            if p[i] == UInt8(ascii: "?") && pathEnd < 0 { pathEnd = i }
            i += 1
        }
        guard i > targetStart, i < n, p[i] == 32 else { throw .malformed("invalid request target") }
        let targetEnd = i
        if pathEnd < 0 { pathEnd = targetEnd }
        i += 1
        let version = try parseVersion(p, at: &i)
        guard i + 1 < n, p[i] == 13, p[i + 1] == 10 else { throw .malformed("invalid request line") }
        // Absolute-form (`http://host/path?q`): the path starts after the authority.
        var start = targetStart
        var authorityStart = -1
        var authorityLength = 0
        if p[targetStart] != UInt8(ascii: "/"), let schemeEnd = absoluteFormSchemeEnd(p, targetStart, targetEnd) {
            var a = schemeEnd
            while a < targetEnd && p[a] != UInt8(ascii: "/") && p[a] != UInt8(ascii: "?") { a += 1 }
            guard a > schemeEnd, a < targetEnd, p[a] == UInt8(ascii: "/") else { throw .malformed("absolute-form target without a path") }
            authorityStart = schemeEnd
            authorityLength = a - schemeEnd
            start = a
        }
        return RequestLine(
            method: method,
            version: version,
            targetStart: Int32(start),
            targetLength: Int32(targetEnd - start),
            pathLength: Int32(pathEnd - start),
            authorityStart: Int32(authorityStart),
            authorityLength: Int32(authorityLength),
            end: i + 2
        )
    }

    /// The offset after `http://` or `https://` (any case) at the start of a target, or nil.
    static func absoluteFormSchemeEnd(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
        for scheme in ["http://", "https://"] {
            let s = Array(scheme.utf8)
            guard end - start > s.count else { continue }
            var match = true
            for k in 0..<s.count where ASCII.lower(p[start + k]) != s[k] { match = false; break }
            if match { return start + s.count }
        }
        return nil
    }

    static func parseStatusLine(_ p: UnsafeRawBufferPointer) throws(HeadParseError) -> StatusLine {
        var i = 0
        let version = try parseVersion(p, at: &i)
        let n = p.count
        guard i + 4 <= n, p[i] == 32 else { throw .malformed("invalid status line") }
        var status = 0
        for k in 1...3 {
            let c = p[i + k]
            guard c >= 48 && c <= 57 else { throw .malformed("invalid status code") }
            status = status * 10 + Int(c - 48)
        }
        i += 4
        var reasonStart = i
        if i < n && p[i] == 32 { i += 1; reasonStart = i }
        while i < n && p[i] != 13 {
            guard p[i] == 9 || p[i] >= 32 else { throw .malformed("invalid reason phrase") }
            i += 1
        }
        guard i + 1 < n, p[i + 1] == 10 else { throw .malformed("invalid status line") }
        guard status >= 100 else { throw .malformed("invalid status code") }
        return StatusLine(
            version: version, status: status, reasonStart: Int32(reasonStart),
            reasonLength: Int32(i - reasonStart), end: i + 2)
    }

    static func parseVersion(_ p: UnsafeRawBufferPointer, at i: inout Int) throws(HeadParseError) -> HTTPVersion {
        guard i + 8 <= p.count,
            p[i] == UInt8(ascii: "H"), p[i + 1] == UInt8(ascii: "T"), p[i + 2] == UInt8(ascii: "T"),
            p[i + 3] == UInt8(ascii: "P"), p[i + 4] == UInt8(ascii: "/"), p[i + 6] == UInt8(ascii: ".")
        else { throw .malformed("invalid HTTP version") }
        let major = p[i + 5]
        let minor = p[i + 7]
        guard major >= 48 && major <= 57 && minor >= 48 && minor <= 57 else { throw .malformed("invalid HTTP version") }
        i += 8
        switch (major, minor) {
        case (49, 49): return .http11
        case (49, 48): return .http10
        default: throw .unsupportedVersion
        }
    }

    static func parseFields(
        _ p: UnsafeRawBufferPointer, from start: Int, limits: HeadLimits, into fields: inout [HeaderField]
    ) throws(HeadParseError) {
        let n = p.count
        var i = start
        while true {
            guard i + 1 < n else { throw .malformed("truncated head") }
            if p[i] == 13 {
                guard p[i + 1] == 10 else { throw .malformed("bare CR") }
                return
            }
            if p[i] == 32 || p[i] == 9 { throw .malformed("obsolete line folding") }
            let nameStart = i
            while i < n && ASCII.isTokenChar(p[i]) { i += 1 }
            guard i > nameStart, i < n, p[i] == UInt8(ascii: ":") else { throw .malformed("invalid header name") }
            let nameEnd = i
            i += 1
            while i < n && (p[i] == 32 || p[i] == 9) { i += 1 }
            let valueStart = i
            var valueEnd = i
            while i < n && p[i] != 13 {
                let c = p[i]
                if c == 127 || (c < 32 && c != 9) { throw .malformed("invalid header value") }
                i += 1
                if c != 32 && c != 9 { valueEnd = i }
            }
            guard i - nameStart <= limits.maxFieldLineBytes else { throw .fieldLineTooLong(limit: limits.maxFieldLineBytes) }
            guard i + 1 < n, p[i + 1] == 10 else { throw .malformed("invalid line ending") }
            i += 2
            guard fields.count < limits.maxHeaders else { throw .tooManyHeaders }
            let kind = HeaderKind.classify(UnsafeRawBufferPointer(rebasing: p[nameStart..<nameEnd]))
            fields.append(
                HeaderField(
                    nameStart: Int32(nameStart), nameLength: Int32(nameEnd - nameStart),
                    valueStart: Int32(valueStart), valueLength: Int32(valueEnd - valueStart),
                    kind: kind, nominatedByConnection: false))
        }
    }

    @inlinable
    static func methodFrom(_ p: UnsafeRawBufferPointer) -> RequestMethod {
        switch p.count {
        case 3:
            if p[0] == 71 && p[1] == 69 && p[2] == 84 { return .GET }
            if p[0] == 80 && p[1] == 85 && p[2] == 84 { return .PUT }
        case 4:
            if p[0] == 80 && p[1] == 79 && p[2] == 83 && p[3] == 84 { return .POST }
            if p[0] == 72 && p[1] == 69 && p[2] == 65 && p[3] == 68 { return .HEAD }
        default: break
        }
        return RequestMethod(String(decoding: p, as: UTF8.self))
    }
}
