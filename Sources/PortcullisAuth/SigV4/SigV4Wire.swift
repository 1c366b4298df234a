import NIOCore
import PortcullisCore

/// One header of a request as the verifier's byte path reads it: where its name and value are in
/// `SigV4Wire.bytes`.
struct SigV4HeaderSpan: Sendable {
    var name: Range<Int>
    var value: Range<Int>
}

/// A request as the verifier's byte path reads it: borrowed bytes (a parsed head's own buffer,
/// or a copy of a `SigV4Request`) and where the method, path, query and each header are in them.
/// Only valid inside the closure that lends `bytes`; it copies nothing and makes no String.
struct SigV4Wire {
    let bytes: UnsafeRawBufferPointer
    /// The method's name (not necessarily inside `bytes`).
    let method: UnsafeRawBufferPointer
    let path: Range<Int>
    /// The query without `?`; empty when there is none.
    let query: Range<Int>
    /// In received order. An array owned by the loop's workspace, lent for this request.
    let headers: [SigV4HeaderSpan]

    subscript(_ r: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[r]) }

    /// The headers the verifier reads, first occurrence of each (as `SigV4Request.header` finds them).
    struct Found {
        var authorization: Range<Int>?
        var securityToken: Range<Int>?
        var amzDate: Range<Int>?
        var date: Range<Int>?
    }

    /// One pass over the names, compared without case and by length first.
    func find() -> Found {
        var f = Found()
        for h in headers {
            let name = self[h.name]
            switch name.count {
            case 4: if f.date == nil && ASCII.equalsLowercase(name, "date") { f.date = h.value }
            case 10: if f.amzDate == nil && ASCII.equalsLowercase(name, "x-amz-date") { f.amzDate = h.value }
            case 13: if f.authorization == nil && ASCII.equalsLowercase(name, "authorization") { f.authorization = h.value }
            case 20: if f.securityToken == nil && ASCII.equalsLowercase(name, "x-amz-security-token") { f.securityToken = h.value }
            default: break
            }
        }
        return f
    }

    /// Whether every header name and value is ASCII. The byte path reads them as bytes where the
    /// String path (`SigV4Request`, the reference) reads Characters and repairs invalid UTF-8: for
    /// ASCII the two agree exactly, so anything else goes the reference way.
    var headersAreASCII: Bool {
        var bits: UInt8 = 0
        for h in headers {
            for c in self[h.name] { bits |= c }
            for c in self[h.value] { bits |= c }
        }
        return bits < 0x80
    }
}

extension SigV4Wire {
    /// The header spans of a parsed head, into the loop's scratch array.
    static func spans(of head: HTTPRequestHead, into spans: inout [SigV4HeaderSpan]) {
        spans.removeAll(keepingCapacity: true)
        for f in head.headers.fields {
            let n = Int(f.nameStart), v = Int(f.valueStart)
            spans.append(SigV4HeaderSpan(name: n..<n + Int(f.nameLength), value: v..<v + Int(f.valueLength)))
        }
    }

    /// Lends a parsed head as a wire view, with its header spans (`spans(of:into:)`).
    static func withHead<R>(_ head: HTTPRequestHead, spans: [SigV4HeaderSpan], _ body: (SigV4Wire) -> R) -> R {
        // The common methods' names are literals: no copy, no allocation.
        var method = head.method.name
        return method.withUTF8 { m in
            head.headers.raw.withUnsafeReadableBytes { p in
                let start = Int(head.targetStart), pathEnd = start + Int(head.pathLength), end = start + Int(head.targetLength)
                return body(
                    SigV4Wire(
                        bytes: p, method: UnsafeRawBufferPointer(m), path: start..<pathEnd,
                        query: pathEnd < end ? pathEnd + 1..<end : end..<end, headers: spans))
            }
        }
    }

    /// Where a `SigV4Request`'s parts are once laid end to end by `lay(_:into:spans:)`.
    struct Layout {
        var method: Range<Int>
        var path: Range<Int>
        var query: Range<Int>
    }

    /// A `SigV4Request`'s strings copied end to end into `buffer` (the loop's), with the spans of
    /// its headers.
    static func lay(_ r: SigV4Request, into buffer: inout ByteScratch, spans: inout [SigV4HeaderSpan]) -> Layout {
        buffer.removeAll()
        spans.removeAll(keepingCapacity: true)
        func add(_ bytes: [UInt8]) -> Range<Int> {
            let start = buffer.count
            bytes.withUnsafeBytes { buffer.append($0) }
            return start..<buffer.count
        }
        func add(_ text: String) -> Range<Int> {
            var text = text
            let start = buffer.count
            text.withUTF8 { buffer.append(UnsafeRawBufferPointer($0)) }
            return start..<buffer.count
        }
        let layout = Layout(method: add(r.method), path: add(r.wirePath), query: add(r.wireQuery))
        for (n, v) in r.headers { spans.append(SigV4HeaderSpan(name: add(n), value: add(v))) }
        return layout
    }

    /// Lends bytes laid out by `lay(_:into:spans:)` as a wire view.
    static func withLaidOut<R>(_ bytes: ByteScratch, _ layout: Layout, spans: [SigV4HeaderSpan], _ body: (SigV4Wire) -> R) -> R {
        bytes.withUnsafeBytes { p in
            body(
                SigV4Wire(
                    bytes: p, method: UnsafeRawBufferPointer(rebasing: p[layout.method]), path: layout.path, query: layout.query,
                    headers: spans))
        }
    }
}
