/// Framing, persistence and Connection-nominated headers of a request (RFC 9112 §6, §9).
enum RequestSemantics {
    static func apply(to head: inout HTTPRequestHead) throws(HeadParseError) {
        var contentLength: Int64? = nil
        var chunked = false
        var sawTransferEncoding = false
        var hosts = 0
        var connectionClose = false
        var connectionKeepAlive = false
        var connectionUpgrade = false
        var upgradeHeader = false
        var nominated = false
        let block = head.headers
        for f in block.fields {
            switch f.kind {
            case .host:
                hosts += 1
            case .contentLength:
                guard let v = block.withValue(f, parseContentLength) else { throw .malformed("invalid Content-Length") }
                if let old = contentLength, old != v { throw .malformed("conflicting Content-Length") }
                contentLength = v
            case .transferEncoding:
                sawTransferEncoding = true
                var tokens = 0
                var last = false
                block.withValue(f) { p in
                    Tokens.forEach(p) { t in
                        tokens += 1
                        last = ASCII.equalsLowercase(t, "chunked")
                    }
                }
                // Only a lone "chunked" is accepted: other codings would need decoding here.
                guard tokens == 1 && last && !chunked else { throw .unsupportedTransferCoding }
                chunked = true
            case .connection:
                block.withValue(f) { p in
                    Tokens.forEach(p) { t in
                        if ASCII.equalsLowercase(t, "close") {
                            connectionClose = true
                        } else if ASCII.equalsLowercase(t, "keep-alive") {
                            connectionKeepAlive = true
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
                let isContinue = block.withValue(f) { ASCII.equalsLowercase($0, "100-continue") }
                guard isContinue else { throw .unsupportedExpectation }
                if head.version == .http11 { head.expectContinue = true }
            default:
                break
            }
        }
        if head.version == .http11 && hosts != 1 { throw .malformed(hosts == 0 ? "missing Host" : "duplicate Host") }
        if hosts > 1 { throw .malformed("duplicate Host") }
        if sawTransferEncoding {
            // Both framings at once is how requests are smuggled; refuse rather than pick one.
            if contentLength != nil { throw .malformed("both Content-Length and Transfer-Encoding") }
            if head.version == .http10 { throw .malformed("Transfer-Encoding in HTTP/1.0") }
            head.framing = .chunked
        } else if let n = contentLength, n > 0 {
            head.framing = .length(n)
        } else {
            head.framing = .none
        }
        switch head.version {
        case .http11: head.keepAlive = !connectionClose
        case .http10: head.keepAlive = connectionKeepAlive && !connectionClose
        }
        head.wantsUpgrade = connectionUpgrade && upgradeHeader
        if nominated { markNominated(in: &head.headers) }
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
            let hit = block.withName(f) { n in
                names.contains { name in name.withUnsafeBytes { ASCII.equalsIgnoringCase(n, $0) } }
            }
            if hit { block.fields[k].nominatedByConnection = true }
        }
    }
}

/// Framing and persistence of an upstream response, which depend on the request's method.
enum ResponseSemantics {
    static func apply(to head: inout HTTPResponseHead, requestMethod: RequestMethod) throws(HeadParseError) {
        var contentLength: Int64? = nil
        var chunked = false
        var sawTransferEncoding = false
        var connectionClose = false
        var connectionKeepAlive = false
        var nominated = false
        let block = head.headers
        for f in block.fields {
            switch f.kind {
            case .contentLength:
                guard let v = block.withValue(f, RequestSemantics.parseContentLength) else {
                    throw .malformed("invalid Content-Length")
                }
                if let old = contentLength, old != v { throw .malformed("conflicting Content-Length") }
                contentLength = v
            case .transferEncoding:
                sawTransferEncoding = true
                block.withValue(f) { p in
                    Tokens.forEach(p) { t in chunked = ASCII.equalsLowercase(t, "chunked") }
                }
            case .connection:
                block.withValue(f) { p in
                    Tokens.forEach(p) { t in
                        if ASCII.equalsLowercase(t, "close") {
                            connectionClose = true
                        } else if ASCII.equalsLowercase(t, "keep-alive") {
                            connectionKeepAlive = true
                        } else if !ASCII.equalsLowercase(t, "upgrade") {
                            nominated = true
                        }
                    }
                }
            default:
                break
            }
        }
        switch head.version {
        case .http11: head.keepAlive = !connectionClose
        case .http10: head.keepAlive = connectionKeepAlive && !connectionClose
        }
        let s = head.status
        if requestMethod == .HEAD || (s >= 100 && s < 200) || s == 204 || s == 304 {
            head.framing = .none
        } else if sawTransferEncoding {
            head.framing = chunked ? .chunked : .untilClose
        } else if let n = contentLength {
            head.framing = n > 0 ? .length(n) : .none
        } else {
            head.framing = .untilClose
        }
        if head.framing == .untilClose { head.keepAlive = false }
        if nominated { RequestSemantics.markNominated(in: &head.headers) }
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
