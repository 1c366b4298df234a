import NIOCore
import Testing

@testable import PortcullisCore

@Suite struct HeadParserTests {
    func parse(_ s: String, maxHeaders: Int = 100) throws(HeadParseError) -> HTTPRequestHead {
        var fields: [HeaderField] = []
        return try HeadParser.parseRequest(ByteBuffer(string: s), limits: HeadLimits(maxHeaders: maxHeaders), reusing: &fields)
    }

    func parse(_ s: String, limits: HeadLimits) throws(HeadParseError) -> HTTPRequestHead {
        var fields: [HeaderField] = []
        return try HeadParser.parseRequest(ByteBuffer(string: s), limits: limits, reusing: &fields)
    }

    /// A request whose one extra header line (`name: value`, CRLF not counted) is `lineBytes` long.
    func requestWithLine(name: String? = nil, lineBytes: Int) -> String {
        let n = name ?? "X-Long"
        let value = String(repeating: "v", count: max(0, lineBytes - n.utf8.count - 2))
        return "GET / HTTP/1.1\r\nHost: a\r\n\(n): \(value)\r\n\r\n"
    }

    func failure(_ s: String) -> HeadParseError? {
        do {
            _ = try parse(s)
            return nil
        } catch {
            return error
        }
    }

    @Test func parsesRequestLineAndHeaders() throws {
        let h = try parse("GET /demo/items/7?x=1&y=2 HTTP/1.1\r\nHost: api.example.com:8080\r\nX-Custom:  spaced value  \r\n\r\n")
        #expect(h.method == .GET)
        #expect(h.version == .http11)
        #expect(h.path == "/demo/items/7")
        #expect(h.query == "x=1&y=2")
        #expect(h.target == "/demo/items/7?x=1&y=2")
        #expect(h.headers.first(.host) == "api.example.com:8080")
        #expect(h.headers.first(named: "x-custom") == "spaced value")
        #expect(h.keepAlive)
        #expect(h.framing == .none)
    }

    @Test func absoluteFormTargetsNameTheirAuthority() throws {
        let h = try parse("GET HTTP://api.example.com:8080/demo/x?y=1 HTTP/1.1\r\nHost: other\r\n\r\n")
        #expect(h.path == "/demo/x")
        #expect(h.query == "y=1")
        let authority = h.headers.raw.withUnsafeReadableBytes {
            String(decoding: $0[Int(h.authorityStart)..<Int(h.authorityStart + h.authorityLength)], as: UTF8.self)
        }
        #expect(authority == "api.example.com:8080")
        #expect(try parse("GET /x HTTP/1.1\r\nHost: a\r\n\r\n").authorityStart == -1)
        #expect(failure("GET http://host HTTP/1.1\r\nHost: a\r\n\r\n") == .malformed("absolute-form target without a path"))
    }

    @Test func classifiesHeadersCaseInsensitively() throws {
        let h = try parse("POST / HTTP/1.1\r\nhOsT: a\r\nCONTENT-LENGTH: 5\r\nx-forwarded-for: 1.2.3.4\r\nX-Request-ID: abc\r\n\r\n")
        #expect(h.headers.fields.map(\.kind) == [.host, .contentLength, .xForwardedFor, .xRequestID])
        #expect(h.framing == .length(5))
    }

    @Test func framingRules() throws {
        #expect(try parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n").framing == .chunked)
        #expect(try parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").framing == .none)
        #expect(try parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n").framing == .length(3))
        // Smuggling shapes are refused, not resolved.
        #expect(failure("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n") == .malformed("both Content-Length and Transfer-Encoding"))
        #expect(failure("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n") == .malformed("conflicting Content-Length"))
        #expect(failure("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n") == .malformed("invalid Content-Length"))
        #expect(failure("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == .unsupportedTransferCoding)
        #expect(failure("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n") == .unsupportedTransferCoding)
    }

    @Test func rejectsMalformedHeads() {
        #expect(failure("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n") == .malformed("obsolete line folding"))
        #expect(failure("GET / HTTP/1.1\r\nHost : a\r\n\r\n") == .malformed("invalid header name"))
        #expect(failure("GET / HTTP/1.1\r\nHost: a\u{01}b\r\n\r\n") == .malformed("invalid header value"))
        #expect(failure("GET / HTTP/1.1\r\n\r\n") == .malformed("missing Host"))
        #expect(failure("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == .malformed("duplicate Host"))
        #expect(failure("GET / HTTP/2.0\r\nHost: a\r\n\r\n") == .unsupportedVersion)
        #expect(failure("GET / FTP/1.1\r\nHost: a\r\n\r\n") == .malformed("invalid HTTP version"))
        #expect(failure("G(T / HTTP/1.1\r\nHost: a\r\n\r\n") == .malformed("invalid method"))
        #expect(failure("GET  HTTP/1.1\r\nHost: a\r\n\r\n") == .malformed("invalid request target"))
        #expect(failure("GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n") == .unsupportedExpectation)
    }

    @Test func headerCountLimit() {
        let many = (0..<5).map { "X-\($0): v\r\n" }.joined()
        #expect(throws: HeadParseError.tooManyHeaders) { try parse("GET / HTTP/1.1\r\nHost: a\r\n\(many)\r\n", maxHeaders: 5) }
        #expect(throws: Never.self) { try parse("GET / HTTP/1.1\r\nHost: a\r\n\(many)\r\n", maxHeaders: 6) }
    }

    @Test func fieldLineLimitIs8KiBByDefault() throws {
        #expect(HeadLimits().maxFieldLineBytes == 8192)
        // Exactly at the limit: accepted, the value intact.
        let h = try parse(requestWithLine(lineBytes: 8192))
        #expect(h.headers.first(named: "x-long")?.utf8.count == 8192 - "X-Long: ".utf8.count)
        // One byte over, in the value.
        #expect(throws: HeadParseError.fieldLineTooLong(limit: 8192)) { try parse(requestWithLine(lineBytes: 8193)) }
        // One byte over, in the name alone.
        let longName = String(repeating: "n", count: 8193)
        #expect(throws: HeadParseError.fieldLineTooLong(limit: 8192)) { try parse("GET / HTTP/1.1\r\n\(longName): v\r\n\r\n") }
        // Trailing spaces count: they are part of the line as sent.
        let padded = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + String(repeating: "v", count: 8190 - 8) + "   \r\n\r\n"
        #expect(throws: HeadParseError.fieldLineTooLong(limit: 8192)) { try parse(padded) }
    }

    @Test func fieldLineLimitIsConfigurable() throws {
        let limits = HeadLimits(maxFieldLineBytes: 300)
        _ = try parse(requestWithLine(lineBytes: 300), limits: limits)
        #expect(throws: HeadParseError.fieldLineTooLong(limit: 300)) { try parse(requestWithLine(lineBytes: 301), limits: limits) }
        // A larger limit lets longer lines through.
        _ = try parse(requestWithLine(lineBytes: 9000), limits: HeadLimits(maxFieldLineBytes: 16384))
    }

    @Test func persistenceAndConnectionNominatedHeaders() throws {
        #expect(try parse("GET / HTTP/1.0\r\n\r\n").keepAlive == false)
        #expect(try parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keepAlive)
        #expect(try parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keepAlive == false)
        let h = try parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret, keep-alive\r\nx-secret: 1\r\nX-Other: 2\r\n\r\n")
        #expect(h.headers.fields.map(\.nominatedByConnection) == [false, false, true, false])
        let u = try parse("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        #expect(u.wantsUpgrade)
        #expect(try parse("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n").expectContinue)
    }

    @Test func responseFramingDependsOnMethodAndStatus() throws {
        func resp(_ s: String, _ m: RequestMethod = .GET) throws -> HTTPResponseHead {
            var f: [HeaderField] = []
            return try HeadParser.parseResponse(ByteBuffer(string: s), requestMethod: m, limits: HeadLimits(), reusing: &f)
        }
        #expect(try resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n").framing == .length(10))
        #expect(try resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", .HEAD).framing == .none)
        #expect(try resp("HTTP/1.1 204 No Content\r\n\r\n").framing == .none)
        #expect(try resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n").framing == .none)
        #expect(try resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").framing == .chunked)
        let close = try resp("HTTP/1.1 200 OK\r\n\r\n")
        #expect(close.framing == .untilClose)
        #expect(close.keepAlive == false)
        let noReason = try resp("HTTP/1.1 503\r\n\r\n")
        #expect(noReason.status == 503 && noReason.reasonLength == 0)
        #expect(try resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n").keepAlive == false)
    }

    @Test func scannerFindsHeadAcrossPieces() {
        let full = "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY"
        var buf = ByteBuffer()
        var scanned = 0
        var found: Int? = nil
        for byte in full.utf8 {
            buf.writeInteger(byte)
            if let n = HeadScanner.headLength(in: buf, scanned: &scanned) {
                found = n
                break
            }
        }
        #expect(found == full.utf8.count - 4)
    }
}
