import NIOCore
import PortcullisConfig
import PortcullisCore

extension ProxyConnection {
    /// Parses the next head from `inbound` and starts its request; false when more bytes are
    /// needed or the connection can take no more requests now.
    func startNextRequest() -> Bool {
        guard var buf = inbound else { return false }
        // RFC 9112 §2.2: ignore empty lines before a request line.
        while let c = buf.getInteger(at: buf.readerIndex, as: UInt8.self), c == 13 || c == 10 {
            buf.moveReaderIndex(forwardBy: 1)
        }
        guard buf.readableBytes > 0 else {
            inbound = nil  // between requests a connection holds no buffer (the socket's pool keeps one)
            return false
        }
        inbound = buf
        snapshot = loop.snapshot
        machine.headStarted(now: .now(), headTimeout: snapshot.headerTimeout)
        guard let len = HeadScanner.headLength(in: buf, scanned: &scanned) else {
            if Self.hasBareLFHeadEnd(buf, from: &lfScanned) {
                refuseHead(Refusal(.BAD_REQUEST, reason: "bare LF line endings", closeConnection: true))
            } else if buf.readableBytes > snapshot.limits.maxHeadBytes {
                refuseHead(Self.headTooLarge(snapshot.limits.maxHeadBytes))
            }
            return false
        }
        scanned = 0
        lfScanned = 1
        if len > snapshot.limits.maxHeadBytes {
            refuseHead(Self.headTooLarge(snapshot.limits.maxHeadBytes))
            return false
        }
        let raw = buf.readSlice(length: len)!
        // The head keeps its bytes alive (a slice) until its request ends; nothing else may.
        inbound = buf.readableBytes > 0 ? buf : nil
        do {
            let h = try HeadParser.parseRequest(raw, limits: snapshot.headLimits, reusing: &fields)
            startRequest(h)
        } catch {
            refuseHead(Self.refusal(for: error))
        }
        return machine.state == .idle
    }

    /// Bytes that cannot become a usable head get their answer, and the connection closes.
    func refuseHead(_ refusal: Refusal) {
        beginRequest(head: nil, now: .now())
        if case .answer = machine.headRejected() { answer(refusal, keepAlive: false) }
    }

    /// A new request: a fresh value for its data, and a new generation, so that late answers
    /// meant for the previous request are recognised and dropped.
    func beginRequest(head: HTTPRequestHead?, now: NIODeadline) {
        generation &+= 1
        request = RequestState(id: loop.random.requestID(), started: now, head: head)
    }

    static func headTooLarge(_ limit: Int) -> Refusal {
        Refusal(.REQUEST_HEADER_FIELDS_TOO_LARGE, reason: "request head over \(limit) bytes", closeConnection: true)
    }

    /// A head ended by LF LF: a client speaking without CRs gets 400 now, not 408 later.
    /// `from` remembers how far earlier calls looked, so a slow client costs linear time.
    static func hasBareLFHeadEnd(_ buf: ByteBuffer, from scanned: inout Int) -> Bool {
        buf.withUnsafeReadableBytes { p in
            defer { scanned = max(1, p.count) }
            guard p.count >= 2 else { return false }
            for i in max(1, min(scanned, p.count))..<p.count where p[i] == 10 && p[i - 1] == 10 { return true }
            return false
        }
    }

    static func refusal(for error: HeadParseError) -> Refusal {
        switch error {
        case .malformed(let why): return Refusal(.BAD_REQUEST, reason: why, closeConnection: true)
        case .tooManyHeaders: return Refusal(.REQUEST_HEADER_FIELDS_TOO_LARGE, reason: "too many header fields", closeConnection: true)
        case .fieldLineTooLong(let limit):
            return Refusal(.REQUEST_HEADER_FIELDS_TOO_LARGE, reason: "header field line longer than \(limit) bytes", closeConnection: true)
        case .unsupportedVersion: return Refusal(.HTTP_VERSION_NOT_SUPPORTED, reason: "HTTP version", closeConnection: true)
        case .unsupportedTransferCoding: return Refusal(.NOT_IMPLEMENTED, reason: "transfer coding other than chunked", closeConnection: true)
        case .unsupportedExpectation: return Refusal(.EXPECTATION_FAILED, reason: "Expect other than 100-continue", closeConnection: true)
        }
    }
}
