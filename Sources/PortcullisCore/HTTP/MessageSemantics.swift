/// What the headers of one message say about its framing and persistence, gathered in one pass.
/// Requests and responses read the same facts and apply their own rules to them.
struct MessageFacts {
    var contentLength: Int64? = nil
    var transferEncodings = 0
    /// Every Transfer-Encoding header was exactly `chunked`.
    var onlyChunked = true
    /// The last transfer coding seen was `chunked`.
    var lastIsChunked = false
    var hosts = 0
    var close = false
    var keepAlive = false
    var connectionUpgrade = false
    var upgradeHeader = false
    var nominated = false
    var expectContinue = false
    var otherExpectation = false
    /// Every Host value is a uri-host[:port] (RFC 3986 reg-name or IP literal characters).
    var validHost = true

    init(_ block: HeaderBlock) throws(HeadParseError) {
        for f in block.fields {
            switch f.kind {
            case .host:
                hosts += 1
                if !block.withValue(f, MessageFacts.isValidHost) { validHost = false }
            case .contentLength:
                guard let v = block.withValue(f, MessageFacts.parseContentLength) else { throw .malformed("invalid Content-Length") }
                if let old = contentLength, old != v { throw .malformed("conflicting Content-Length") }
                contentLength = v
            case .transferEncoding:
                var tokens = 0
                var chunked = false
                block.withValue(f) { p in
                    Tokens.forEach(p) { t in
                        tokens += 1
                        chunked = ASCII.equalsLowercase(t, "chunked")
                    }
                }
                if tokens != 1 || !chunked || transferEncodings > 0 { onlyChunked = false }
                lastIsChunked = chunked
                transferEncodings += 1
            case .connection:
                block.withValue(f) { p in
                    Tokens.forEach(p) { t in
                        if ASCII.equalsLowercase(t, "close") {
                            close = true
                        } else if ASCII.equalsLowercase(t, "keep-alive") {
                            keepAlive = true
                        } else if ASCII.equalsLowercase(t, "upgrade") {
                            connectionUpgrade = true
                        } else {
                            nominated = true
                        }
                    }
                }
            case .upgrade:
                upgradeHeader = true
            case .expect:
                if block.withValue(f, { ASCII.equalsLowercase($0, "100-continue") }) { expectContinue = true } else { otherExpectation = true }
            default:
                break
            }
        }
    }

    func persistent(_ version: HTTPVersion) -> Bool {
        switch version {
        case .http11: return !close
        case .http10: return keepAlive && !close
        }
    }

    static func isValidHost(_ p: UnsafeRawBufferPointer) -> Bool {
        guard !p.isEmpty else { return false }
        if p[0] == UInt8(ascii: "[") && !p.contains(UInt8(ascii: "]")) { return false }
        for c in p {
            switch c {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: continue
            case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: ":"),
                UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "%"), UInt8(ascii: "!"), UInt8(ascii: "$"),
                UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"),
                UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="):
                continue
            default: return false
            }
        }
        return true
    }

    static func parseContentLength(_ p: UnsafeRawBufferPointer) -> Int64? {
        guard p.count > 0, p.count <= 18 else { return nil }
        var v: Int64 = 0
        for c in p {
            guard c >= 48 && c <= 57 else { return nil }
            v = v * 10 + Int64(c - 48)
        }
        return v
    }

    /// Marks the headers a Connection header names, so the forwarder drops them.
    static func markNominated(in block: inout HeaderBlock) {
        var names: [[UInt8]] = []
        for f in block.fields where f.kind == .connection {
            block.withValue(f) { p in
                Tokens.forEach(p) { t in names.append(Array(t)) }
            }
        }
        for k in block.fields.indices {
            let f = block.fields[k]
            // Framing and Host are never hop-by-hop by nomination: dropping them while the body
            // still passes would let one message be read as two (request smuggling).
            switch f.kind {
            case .contentLength, .transferEncoding, .host: continue
            default: break
            }
            let hit = block.withName(f) { n in
                names.contains { name in name.withUnsafeBytes { ASCII.equalsIgnoringCase(n, $0) } }
            }
            if hit { block.fields[k].nominatedByConnection = true }
        }
    }
}

/// Framing and persistence of a request (RFC 9112 §6, §9).
enum RequestSemantics {
    static func apply(to head: inout HTTPRequestHead) throws(HeadParseError) {
        let m = try MessageFacts(head.headers)
        if head.version == .http11 && m.hosts != 1 { throw .malformed(m.hosts == 0 ? "missing Host" : "duplicate Host") }
        if m.hosts > 1 { throw .malformed("duplicate Host") }
        if !m.validHost { throw .malformed("invalid Host") }
        if m.otherExpectation { throw .unsupportedExpectation }
        if m.transferEncodings > 0 {
            // Only a lone "chunked" is accepted: other codings would need decoding here.
            guard m.onlyChunked else { throw .unsupportedTransferCoding }
            // Both framings at once is how requests are smuggled; refuse rather than pick one.
            if m.contentLength != nil { throw .malformed("both Content-Length and Transfer-Encoding") }
            if head.version == .http10 { throw .malformed("Transfer-Encoding in HTTP/1.0") }
            head.framing = .chunked
        } else if let n = m.contentLength, n > 0 {
            head.framing = .length(n)
        } else {
            head.framing = .none
        }
        head.keepAlive = m.persistent(head.version)
        head.expectContinue = m.expectContinue && head.version == .http11
        head.wantsUpgrade = m.connectionUpgrade && m.upgradeHeader
        if m.nominated { MessageFacts.markNominated(in: &head.headers) }
    }
}

/// Framing and persistence of an upstream response, which depend on the request's method.
enum ResponseSemantics {
    static func apply(to head: inout HTTPResponseHead, requestMethod: RequestMethod) throws(HeadParseError) {
        let m = try MessageFacts(head.headers)
        head.keepAlive = m.persistent(head.version)
        let s = head.status
        if requestMethod == .HEAD || (s >= 100 && s < 200) || s == 204 || s == 304 {
            head.framing = .none
        } else if m.transferEncodings > 0 {
            head.framing = m.lastIsChunked ? .chunked : .untilClose
        } else if let n = m.contentLength {
            head.framing = n > 0 ? .length(n) : .none
        } else {
            head.framing = .untilClose
        }
        if head.framing == .untilClose { head.keepAlive = false }
        if m.nominated { MessageFacts.markNominated(in: &head.headers) }
    }
}

/// Iterates the comma-separated tokens of a header value, trimmed of whitespace.
public enum Tokens {
    @inlinable
    public static func forEach(_ p: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var i = 0
        let n = p.count
        while i < n {
            while i < n && (p[i] == 32 || p[i] == 9 || p[i] == 44) { i += 1 }
            let s = i
            while i < n && p[i] != 44 { i += 1 }
            var e = i
            while e > s && (p[e - 1] == 32 || p[e - 1] == 9) { e -= 1 }
            if e > s { body(UnsafeRawBufferPointer(rebasing: p[s..<e])) }
        }
    }
}
