import NIOCore
import PortcullisAuth
import PortcullisCore

extension ProxyConnection {
    /// Phase: a route whose admission reads the body (SigV4 signs its hash) waits here until the
    /// body is in the inbound buffer, within the route's body limit. The bytes stay in the buffer
    /// and go upstream as usual once admitted; only their hash goes to the phases.
    func bufferBody() {
        guard let h = request.head, let buf = inbound else { return }
        let hash: String
        switch h.framing {
        case .length(let n):
            guard buf.readableBytes >= Int(n) else { return }
            hash = buf.withUnsafeReadableBytes { SigV4.hexSHA256(UnsafeRawBufferPointer(rebasing: $0[0..<Int(n)])) }
        case .chunked:
            let fresh = buf.getSlice(at: buf.readerIndex + request.bufferScanned, length: buf.readableBytes - request.bufferScanned)!
            do {
                request.bufferScanned += try request.bufferDecoder.consume(fresh)
            } catch {
                return refuse(Refusal(.BAD_REQUEST, reason: "invalid chunked request body", closeConnection: true))
            }
            // The payload within the limit, and its framing within reason: tiny chunks must not
            // make the buffer many times the limit.
            if request.bufferDecoder.payloadBytes > request.bodyLimit || Int64(request.bufferScanned) > 2 * request.bodyLimit + 65536 {
                return refuse(Refusal(.REQUEST_TOO_LARGE, reason: "request body over \(request.bodyLimit) bytes", closeConnection: true))
            }
            guard request.bufferDecoder.isDone else { return }
            // The whole chunked body is here: hash its payload, without the framing.
            let whole = buf.getSlice(at: buf.readerIndex, length: request.bufferScanned)!
            var payload: [UInt8] = []
            payload.reserveCapacity(Int(request.bufferDecoder.payloadBytes))
            var decoder = ChunkedDecoder()
            _ = try? decoder.consume(whole) { offset, length in
                payload += whole.getBytes(at: whole.readerIndex + offset, length: length) ?? []
            }
            hash = SigV4.hexSHA256(payload)
        default:
            hash = SigV4.emptyPayloadHash
        }
        machine.bodyBuffered()
        admit(payloadHash: hash)
    }

    func sendContinue() {
        var b = context.channel.allocator.buffer(capacity: 25)
        b.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
        context.writeAndFlush(wrapOutboundOut(b), promise: nil)
    }
}
