import NIOCore
import Testing

@testable import PortcullisCore

@Suite struct ChunkedDecoderTests {
    /// Feeds `wire` in pieces of `step` bytes; returns (consumed, payload, done).
    func run(_ wire: String, step: Int) throws(ChunkedDecoder.Failure) -> (Int, String, Bool) {
        var d = ChunkedDecoder()
        let bytes = Array(wire.utf8)
        var consumed = 0
        var payload: [UInt8] = []
        var i = 0
        while i < bytes.count && !d.isDone {
            let piece = ByteBuffer(bytes: bytes[i..<min(bytes.count, i + step)])
            let n = try d.consume(piece) { o, len in payload += piece.getBytes(at: piece.readerIndex + o, length: len)! }
            consumed += n
            i += step
        }
        return (consumed, String(decoding: payload, as: UTF8.self), d.isDone)
    }

    @Test(arguments: [1, 2, 3, 7, 1000])
    func decodesAtEveryBoundary(step: Int) throws {
        let wire = "4\r\nWiki\r\n5 ;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: t\r\n\r\nNEXT"
        let (consumed, payload, done) = try run(wire, step: step)
        #expect(done)
        #expect(payload == "Wikipedia in\r\n\r\nchunks.")
        #expect(consumed == wire.utf8.count - 4)  // stops before the next message
    }

    @Test func countsPayloadForLimits() throws {
        var d = ChunkedDecoder()
        _ = try d.consume(ByteBuffer(string: "a\r\n0123456789\r\n"))
        #expect(d.payloadBytes == 10)
        #expect(!d.isDone)
    }

    @Test(arguments: [
        "g\r\n", "\r\n", "4\r\nWikiX\r\n", "4\nWiki", "ffffffffffffffff\r\n", "3 4\r\nabc\r\n",
        "0\r\nX: a\n\r\n\r\n", "0\r\nX: a\u{0}b\r\n\r\n", "0\r\n\u{1}X: a\r\n\r\n",
    ])
    func rejectsMalformedFraming(_ wire: String) {
        #expect(throws: ChunkedDecoder.Failure.malformed) { try run(wire, step: 100) }
    }

    @Test func boundsTrailers() {
        let wire = "0\r\n" + String(repeating: "X-T: v\r\n", count: 3000) + "\r\n"
        #expect(throws: ChunkedDecoder.Failure.trailerTooLarge) { try run(wire, step: 4096) }
    }
}
