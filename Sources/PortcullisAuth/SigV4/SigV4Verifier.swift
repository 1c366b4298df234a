public import PortcullisCore
import PortcullisTLS
public import NIOCore

/// A request as the `sigv4` authorizer sees it: the wire path and query, the headers in received
/// order, and the SHA-256 of the body received (hex).
public struct SigV4Request: Sendable {
    public var method: String
    public var wirePath: [UInt8]
    public var wireQuery: [UInt8]
    public var headers: [(String, String)]
    public var payloadHash: String

    public init(method: String, wirePath: [UInt8], wireQuery: [UInt8], headers: [(String, String)], payloadHash: String = SigV4.emptyPayloadHash) {
        self.method = method
        self.wirePath = wirePath
        self.wireQuery = wireQuery
        self.headers = headers
        self.payloadHash = payloadHash
    }

    func header(_ lowercasedName: String) -> String? {
        headers.first { $0.0.lowercased() == lowercasedName }?.1
    }

    /// Decoded query parameters (for the presigned X-Amz-* values).
    var queryParameters: [(String, String)] {
        wireQuery.split(separator: 0x26).map { part in
            let kv = part.split(separator: 0x3D, maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (b: ArraySlice<UInt8>) in String(decoding: SigV4Encoding.decode(b, plusAsSpace: true), as: UTF8.self) }
            return (decode(kv[0]), kv.count > 1 ? decode(kv[1]) : "")
        }
    }
}

/// What verification concluded.
public enum SigV4Verdict: Sendable {
    /// The signature is valid for this key, within time: the caller is its principal.
    case verified(SigV4Credential)
    /// Neither an Authorization header nor a presigned query: not a SigV4 request.
    case absent(Refusal)
    case refused(Refusal)
}

/// Verifies SigV4 requests for `execute-api` against a set of access keys, in API Gateway's order
/// and with its messages: form, credential scope, time, key, session token, then the signature.
/// Immutable and shared by every loop; each loop has a workspace of its own (scratch buffers,
/// signing keys cached per key, day and region).
///
/// Two implementations of one set of rules: the byte path (`SigV4Verifier+Bytes.swift`) reads
/// the request's bytes where they lie and allocates next to nothing, and the String path
/// (`verifyReference`), the readable reference it was checked against, judges what the byte path
/// leaves to it (text that is not ASCII). SigV4ByteTests holds them to the same verdicts.
public final class SigV4Verifier: Sendable {
    public static let service = "execute-api"
    let credentials: [String: SigV4Credential]
    /// The keys in byte order of their access key IDs, for the byte path's binary search.
    let sortedKeys: [SigV4Credential]
    let sortedKeyIDs: [[UInt8]]
    /// Every access key ID is ASCII (where bytes and String equality agree).
    let keyIDsAreASCII: Bool
    /// Largest difference between the request's time and ours, each way (API Gateway: 5 minutes).
    let maxSkew: Int64
    /// One workspace per event loop: buffers reused request after request, and four HMACs
    /// saved per request by the signing-key cache, with no lock shared by the loops.
    let workspaces: PerLoop<SigV4Workspace>

    /// - Parameter group: the loops requests run on (each gets its own workspace).
    public init(credentials: [SigV4Credential], maxSkewSeconds: Int64 = 300, group: (any EventLoopGroup)? = nil) {
        var byID: [String: SigV4Credential] = [:]
        for c in credentials { byID[c.accessKeyID] = c }
        self.credentials = byID
        let sorted = byID.values.sorted { $0.accessKeyID.utf8.lexicographicallyPrecedes($1.accessKeyID.utf8) }
        sortedKeys = sorted
        sortedKeyIDs = sorted.map { Array($0.accessKeyID.utf8) }
        keyIDsAreASCII = sorted.allSatisfy { $0.accessKeyID.utf8.allSatisfy { $0 < 0x80 } }
        maxSkew = maxSkewSeconds
        workspaces = PerLoop(group: group) { SigV4Workspace() }
    }

    /// The index in `sortedKeys` of the key with this access key ID.
    func keyIndex(_ id: UnsafeRawBufferPointer) -> Int? {
        var lo = 0, hi = sortedKeyIDs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            let candidate = sortedKeyIDs[mid]
            if candidate.elementsEqual(id) { return mid }
            if candidate.lexicographicallyPrecedes(id) { lo = mid + 1 } else { hi = mid }
        }
        return nil
    }

    /// - Parameters:
    ///   - region: the API's region: the credential scope must name it.
    ///   - now: seconds since 1970 (injected: tests drive it).
    ///   - loop: the loop the request runs on, for its workspace.
    public func verify(_ r: SigV4Request, region: String, now: Int64, on loop: (any EventLoop)? = nil) -> SigV4Verdict {
        verifyWithWindow(r, region: region, now: now, on: loop).verdict
    }

    /// `verify`, and for a verified request the span of times (seconds since 1970) in which the
    /// same bytes would verify again: within the skew of the signing time (or the presigned
    /// lifetime), and before the session's expiry. What a cache of verified requests may use.
    public func verifyWithWindow(
        _ r: SigV4Request, region: String, now: Int64, on loop: (any EventLoop)? = nil
    ) -> (verdict: SigV4Verdict, window: ClosedRange<Int64>?) {
        switch byteOutcome(r, region: region, now: now, on: loop) {
        case .decided(let verdict, let window): return (verdict, window)
        case .needsReference: return verifyReference(r, region: region, now: now)
        }
    }

    /// The byte path's verdict on a `SigV4Request` (its strings laid end to end first), or that
    /// it leaves the request to the String path.
    func byteOutcome(_ r: SigV4Request, region: String, now: Int64, on loop: (any EventLoop)?) -> ByteOutcome {
        workspaces.with(loop) { ws -> ByteOutcome in
            let layout = SigV4Wire.lay(r, into: &ws.wire, spans: &ws.headers)
            let bytes = ws.wire, spans = ws.headers
            let o = SigV4Wire.withLaidOut(bytes, layout, spans: spans) { w in
                verifyBytes(w, payloadHash: r.payloadHash, region: region, now: now, in: &ws)
            }
            ws.release()
            return o
        }
    }

    /// `verifyWithWindow` for a parsed head, read where it lies (the byte path): what the `sigv4`
    /// authorizer runs for every request the verified-request cache does not know.
    func verifyWithWindow(
        head: HTTPRequestHead, payloadHash: String, region: String, now: Int64, on loop: (any EventLoop)?
    ) -> (verdict: SigV4Verdict, window: ClosedRange<Int64>?) {
        let outcome = workspaces.with(loop) { ws -> ByteOutcome in
            SigV4Wire.spans(of: head, into: &ws.headers)
            let spans = ws.headers
            let o = SigV4Wire.withHead(head, spans: spans) { w in
                verifyBytes(w, payloadHash: payloadHash, region: region, now: now, in: &ws)
            }
            ws.release()
            return o
        }
        switch outcome {
        case .decided(let verdict, let window): return (verdict, window)
        case .needsReference:
            let (path, query) = head.headers.raw.withUnsafeReadableBytes { p -> ([UInt8], [UInt8]) in
                let start = Int(head.targetStart), pathEnd = start + Int(head.pathLength), end = start + Int(head.targetLength)
                return (Array(p[start..<pathEnd]), pathEnd < end ? Array(p[(pathEnd + 1)..<end]) : [])
            }
            let r = SigV4Request(method: head.method.name, wirePath: path, wireQuery: query, headers: head.headers.pairs, payloadHash: payloadHash)
            return verifyReference(r, region: region, now: now)
        }
    }

    /// The span of times in which a verified request verifies again (see `verifyWithWindow`).
    static func window(signedAt: Int64, presignedExpiry: Int64?, key: SigV4Credential, maxSkew: Int64) -> ClosedRange<Int64>? {
        var last = presignedExpiry.map { signedAt + $0 } ?? signedAt + maxSkew
        if let expires = key.expires { last = min(last, expires - 1) }
        let first = signedAt - maxSkew
        return first <= last ? first...last : nil
    }

    static func mismatch(canonical: String, stringToSign sts: String, key: SigV4Credential) -> Refusal {
        Refusal(
            .INVALID_SIGNATURE,
            message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'\(canonical)'\n\nThe String-to-Sign should have been\n'\(sts)'\n",
            reason: "signature mismatch for \(key.accessKeyID)")
    }

    static func incomplete(_ f: SigV4Failure) -> Refusal {
        var r = Refusal(.INVALID_SIGNATURE, message: f.message, reason: "malformed SigV4: \(f)")
        r.errorType = "IncompleteSignatureException"
        return r
    }

    static func unrecognized(_ reason: String) -> Refusal {
        var r = Refusal(.INVALID_SIGNATURE, message: "The security token included in the request is invalid.", reason: reason)
        r.errorType = "UnrecognizedClientException"
        return r
    }

    static func notYetCurrent(_ stamp: String, now: Int64, skew: Int64) -> Refusal {
        Refusal(.INVALID_SIGNATURE, message: "Signature not yet current: \(stamp) is still later than \(SigV4Time.format(now + skew)) (\(SigV4Time.format(now)) + \(skew / 60) min.)", reason: "request time in the future")
    }
}
