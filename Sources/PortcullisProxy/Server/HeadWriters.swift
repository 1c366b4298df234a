import NIOCore
import PortcullisCore

/// Writes the request head sent upstream: request line with the stage prefix stripped,
/// end-to-end headers copied byte for byte, hop-by-hop ones dropped, X-Forwarded-* and
/// X-Request-Id added, route header edits applied.
enum UpstreamRequestWriter {
    static func write(
        head h: HTTPRequestHead, route: CompiledRoute, restStart: Int, hostHeader: String, proto: String,
        clientText: String, trustedPeer: Bool, requestID: RequestID, identity: Identity?,
        clientCert: [(String, String)], into out: inout ByteBuffer
    ) {
        let identityHeaders = identity?.upstreamHeaders ?? []
        let consumed = identity?.consumedHeaders ?? []
        let raw = h.headers.raw
        out.writeString(h.method.name)
        out.writeStaticString(" ")
        // The target without the stage prefix; "/" when nothing is left of the path.
        if restStart >= Int(h.pathLength) { out.writeStaticString("/") }
        raw.withUnsafeReadableBytes { p in
            let start = Int(h.targetStart) + min(restStart, Int(h.pathLength))
            out.writeBytes(UnsafeRawBufferPointer(rebasing: p[start..<Int(h.targetStart + h.targetLength)]))
        }
        out.writeStaticString(" HTTP/1.1\r\nHost: ")
        out.writeString(hostHeader)
        out.writeStaticString("\r\n")
        let tunnel = route.websocket && h.wantsUpgrade
        var priorXFF: HeaderField? = nil
        var clientRequestID: HeaderField? = nil
        var originalHost: HeaderField? = nil
        raw.withUnsafeReadableBytes { p in
            for f in h.headers.fields {
                switch f.kind {
                case .host: originalHost = f; continue
                case .xForwardedFor: if trustedPeer && priorXFF == nil { priorXFF = f }; continue
                case .xForwardedProto, .xForwardedHost, .expect: continue
                case .xRequestID: if trustedPeer { clientRequestID = f }; continue
                case .upgrade:
                    if tunnel { break }
                    continue
                default:
                    if f.kind.isHopByHop || f.nominatedByConnection { continue }
                }
                let name = UnsafeRawBufferPointer(rebasing: p[Int(f.nameStart)..<Int(f.nameStart + f.nameLength)])
                if !route.removeHeaders.isEmpty || !route.setHeaderNames.isEmpty {
                    let drop = route.removeHeaders.contains { n in n.withUnsafeBytes { ASCII.equalsIgnoringCase(name, $0) } }
                        || route.setHeaderNames.contains { n in n.withUnsafeBytes { ASCII.equalsIgnoringCase(name, $0) } }
                    if drop { continue }
                }
                // X-Client-Cert-* come only from a verified handshake, never from the client.
                if name.count > 14 && ASCII.equalsLowercase(UnsafeRawBufferPointer(rebasing: name[0..<14]), "x-client-cert-") {
                    continue
                }
                // Credentials the authorizer consumed stay here (API Gateway drops a SigV4 Authorization).
                if !consumed.isEmpty {
                    let spent = consumed.contains { c in
                        var c = c
                        return c.withUTF8 { ASCII.equalsIgnoringCase(name, UnsafeRawBufferPointer($0)) }
                    }
                    if spent { continue }
                }
                // A client must not be able to forge what the authorizer vouches for.
                if !identityHeaders.isEmpty {
                    let forged = identityHeaders.contains { k, _ in
                        var k = k
                        return k.withUTF8 { ASCII.equalsIgnoringCase(name, UnsafeRawBufferPointer($0)) }
                    }
                    if forged { continue }
                }
                out.writeBytes(UnsafeRawBufferPointer(rebasing: p[Int(f.nameStart)..<Int(f.valueStart + f.valueLength)]))
                out.writeStaticString("\r\n")
            }
            out.writeStaticString("X-Forwarded-For: ")
            if let x = priorXFF {
                out.writeBytes(UnsafeRawBufferPointer(rebasing: p[Int(x.valueStart)..<Int(x.valueStart + x.valueLength)]))
                out.writeStaticString(", ")
            }
            out.writeString(clientText)
            out.writeStaticString("\r\nX-Forwarded-Proto: ")
            out.writeString(proto)
            if let oh = originalHost {
                out.writeStaticString("\r\nX-Forwarded-Host: ")
                out.writeBytes(UnsafeRawBufferPointer(rebasing: p[Int(oh.valueStart)..<Int(oh.valueStart + oh.valueLength)]))
            }
            out.writeStaticString("\r\nX-Request-Id: ")
            if let rid = clientRequestID {
                out.writeBytes(UnsafeRawBufferPointer(rebasing: p[Int(rid.valueStart)..<Int(rid.valueStart + rid.valueLength)]))
            } else {
                requestID.write(into: &out)
            }
            out.writeStaticString("\r\n")
        }
        if h.framing == .chunked { out.writeStaticString("Transfer-Encoding: chunked\r\n") }
        if tunnel { out.writeStaticString("Connection: upgrade\r\n") }
        if !route.setHeaderLines.isEmpty { out.writeBytes(route.setHeaderLines) }
        if !route.headerTemplates.isEmpty {
            let id = requestID.string
            for t in route.headerTemplates {
                if let line = t.line(identity: identity, requestID: id, sourceIP: clientText) { out.writeString(line) }
            }
        }
        for (k, v) in identityHeaders { writeHeader(k, v, into: &out) }
        for (k, v) in clientCert { writeHeader(k, v, into: &out) }
        out.writeStaticString("\r\n")
    }
}

extension UpstreamRequestWriter {
    static func writeHeader(_ name: String, _ value: String, into out: inout ByteBuffer) {
        out.writeString(name)
        out.writeStaticString(": ")
        out.writeString(value)
        out.writeStaticString("\r\n")
    }
}

/// Writes the response head sent to the client from the upstream's head.
enum ResponseHeadWriter {
    static func write(
        _ r: HTTPResponseHead, clientVersion: HTTPVersion, mode: RequestState.ResponseMode, tunnel: Bool,
        keepAlive: Bool, requestID: RequestID, into out: inout ByteBuffer
    ) {
        let raw = r.headers.raw
        // With Transfer-Encoding present, Content-Length is meaningless and must not reach the
        // client (RFC 9112 §6.3); the codings themselves are kept, chunked being what we frame with.
        let transferEncodings = r.headers.fields.filter { $0.kind == .transferEncoding }
        raw.withUnsafeReadableBytes { p in
            out.writeStaticString("HTTP/1.1 ")
            // Status code and reason phrase as the upstream sent them.
            out.writeBytes(UnsafeRawBufferPointer(rebasing: p[9..<Int(r.reasonStart + r.reasonLength)]))
            out.writeStaticString("\r\n")
            for f in r.headers.fields {
                switch f.kind {
                case .upgrade where tunnel: break
                case .contentLength where mode == .dechunk || !transferEncodings.isEmpty: continue
                default: if f.kind.isHopByHop || f.nominatedByConnection { continue }
                }
                out.writeBytes(UnsafeRawBufferPointer(rebasing: p[Int(f.nameStart)..<Int(f.valueStart + f.valueLength)]))
                out.writeStaticString("\r\n")
            }
        }
        if (r.framing == .chunked && mode == .raw) || mode == .rechunk {
            out.writeStaticString("Transfer-Encoding: ")
            raw.withUnsafeReadableBytes { p in
                for (i, f) in transferEncodings.enumerated() {
                    if i > 0 { out.writeStaticString(", ") }
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: p[Int(f.valueStart)..<Int(f.valueStart + f.valueLength)]))
                }
            }
            // Close-delimited bodies get chunked on top of whatever codings they carry.
            if mode == .rechunk { out.writeStaticString(transferEncodings.isEmpty ? "chunked" : ", chunked") }
            out.writeStaticString("\r\n")
        }
        out.writeStaticString("x-amzn-RequestId: ")
        requestID.write(into: &out)
        out.writeStaticString("\r\n")
        if tunnel {
            out.writeStaticString("Connection: upgrade\r\n")
        } else if !keepAlive {
            out.writeStaticString("Connection: close\r\n")
        } else if clientVersion == .http10 {
            out.writeStaticString("Connection: keep-alive\r\n")
        }
        out.writeStaticString("\r\n")
    }
}
