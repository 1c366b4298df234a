import NIOCore
import PortcullisCore
import Testing

@testable import PortcullisHTTPClient

/// The response decoder fed by hand: framing cases as byte pieces → expected step and body.
@Suite("HTTP client: response decoder")
struct ResponseDecoderTests {
    /// Feeds `pieces` one by one; returns the last step and the decoder.
    func decode(_ pieces: [String], method: String = "GET", max: Int = 1 << 20) throws -> (ResponseDecoder.Step, ResponseDecoder) {
        var d = ResponseDecoder(method: RequestMethod(method), maxBodyBytes: max)
        var step = ResponseDecoder.Step.needMore
        for p in pieces { step = try d.feed(ByteBuffer(string: p)) }
        return (step, d)
    }

    func body(_ d: ResponseDecoder) -> String? { d.response.map { String(decoding: $0.body, as: UTF8.self) } }

    @Test func framingTable() throws {
        let cases: [(pieces: [String], method: String, step: ResponseDecoder.Step, body: String?)] = [
            (["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"], "GET", .complete(reusable: true), "hello"),
            // Split anywhere, including inside the head's final CRLF CRLF.
            (["HTTP/1.1 200 OK\r\nContent-Le", "ngth: 5\r\n\r", "\nhel", "lo"], "GET", .complete(reusable: true), "hello"),
            (["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"], "GET", .needMore, nil),
            (["HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"], "GET", .complete(reusable: false), "hello"),
            // Bytes after the response: framing can no longer be trusted.
            (["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiEXTRA"], "GET", .complete(reusable: false), "hi"),
            (["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "2\r\nde\r\n0\r\n\r\n"], "GET", .complete(reusable: true), "abcde"),
            (["HTTP/1.1 204 No Content\r\n\r\n"], "GET", .complete(reusable: true), ""),
            (["HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"], "HEAD", .complete(reusable: true), ""),
            // Interim 100 Continue, then the real answer.
            (["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], "POST", .complete(reusable: true), "ok"),
            (["HTTP/1.1 200 OK\r\n\r\npartial"], "GET", .needMore, "partial"),
        ]
        for c in cases {
            let (step, d) = try decode(c.pieces, method: c.method)
            #expect(step == c.step, "\(c.pieces)")
            if step != .needMore || c.body != nil { #expect(body(d) == c.body, "\(c.pieces)") }
        }
    }

    @Test func closeEndsOnlyACloseDelimitedBody() throws {
        var (_, d) = try decode(["HTTP/1.1 200 OK\r\n\r\nall of it"])
        try d.end()
        #expect(body(d) == "all of it")
        (_, d) = try decode(["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"])
        #expect(throws: HTTPClientError.closedEarly) { try d.end() }
        (_, d) = try decode(["HTTP/1.1 200 OK\r\n"])
        #expect(throws: HTTPClientError.closedEarly) { try d.end() }
    }

    @Test func refusals() throws {
        #expect(throws: HTTPClientError.tooLarge(4)) { try decode(["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"], max: 4) }
        #expect(throws: HTTPClientError.tooLarge(4)) { try decode(["HTTP/1.1 200 OK\r\n\r\n", "abcde"], max: 4) }
        #expect(throws: HTTPClientError.invalidResponse("bad chunked framing")) {
            try decode(["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"])
        }
        #expect(throws: HTTPClientError.self) { try decode(["SSH-2.0-OpenSSH\r\n\r\n"]) }
        #expect(throws: HTTPClientError.self) { try decode(["HTTP/1.1 101 Switching Protocols\r\n\r\n"]) }
    }

    @Test func cacheControlMaxAge() {
        func age(_ v: String?) -> Double? {
            HTTPClientResponse(status: 200, headers: v.map { [("Cache-Control", $0)] } ?? [], body: []).maxAge
        }
        #expect(age(nil) == nil)
        #expect(age("public, max-age=3600") == 3600)
        #expect(age("max-age = 60") == 60)
        #expect(age("max-age=60, no-cache") == 0)
        #expect(age("no-store") == 0)
        #expect(age("max-age=-1") == nil)
    }
}
