public import PortcullisCore
public import PortcullisTLS
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
/// Immutable and shared by every loop; signing keys are cached per key, day and region.
public final class SigV4Verifier: Sendable {
    public static let service = "execute-api"
    let credentials: [String: SigV4Credential]
    /// Largest difference between the request's time and ours, each way (API Gateway: 5 minutes).
    let maxSkew: Int64
    /// Signing keys by access key, date and region, one cache per event loop: four HMACs saved
    /// per request, no lock shared by the loops.
    private let signingKeys: PerLoop<[String: HMACKey]>

    /// - Parameter group: the loops requests run on (each gets its own signing-key cache).
    public init(credentials: [SigV4Credential], maxSkewSeconds: Int64 = 300, group: (any EventLoopGroup)? = nil) {
        var byID: [String: SigV4Credential] = [:]
        for c in credentials { byID[c.accessKeyID] = c }
        self.credentials = byID
        maxSkew = maxSkewSeconds
        signingKeys = PerLoop(group: group) { [:] }
    }

    /// - Parameters:
    ///   - region: the API's region: the credential scope must name it.
    ///   - now: seconds since 1970 (injected: tests drive it).
    ///   - loop: the loop the request runs on, for its signing-key cache.
    public func verify(_ r: SigV4Request, region: String, now: Int64, on loop: (any EventLoop)? = nil) -> SigV4Verdict {
        verifyWithWindow(r, region: region, now: now, on: loop).verdict
    }

    /// `verify`, and for a verified request the span of times (seconds since 1970) in which the
    /// same bytes would verify again: within the skew of the signing time (or the presigned
    /// lifetime), and before the session's expiry. What a cache of verified requests may use.
    public func verifyWithWindow(
        _ r: SigV4Request, region: String, now: Int64, on loop: (any EventLoop)? = nil
    ) -> (verdict: SigV4Verdict, window: ClosedRange<Int64>?) {
        let auth: SigV4Authorization
        let amzDate: String
        var presignedExpiry: Int64? = nil
        var token = r.header("x-amz-security-token")
        if let header = r.header("authorization") {
            // A presigned query beside the header names a second signer; an upstream that reads
            // presigned URLs would believe that one. Refused whichever is valid, as S3 does.
            if !r.wireQuery.isEmpty, r.queryParameters.contains(where: { $0.0 == "X-Amz-Signature" }) {
                return (.refused(Self.incomplete(.headerAndQuerySignature)), nil)
            }
            switch SigV4Authorization.parse(header: header) {
            case .failure(let f): return (.refused(Self.incomplete(f)), nil)
            case .success(let a): auth = a
            }
            guard let d = r.header("x-amz-date") ?? r.header("date") else {
                return (.refused(Self.incomplete(.incomplete(missing: [], header: header))), nil)
            }
            amzDate = d
        } else {
            let params = r.queryParameters
            guard let parsed = SigV4Authorization.parse(query: params) else {
                return (.absent(Refusal(.MISSING_AUTHENTICATION_TOKEN, reason: "no SigV4 Authorization header or presigned query")), nil)
            }
            switch parsed {
            case .failure(let f): return (.refused(Self.incomplete(f)), nil)
            case .success(let a): auth = a
            }
            guard let d = params.first(where: { $0.0 == "X-Amz-Date" })?.1 else {
                return (.refused(Self.incomplete(.missingQueryParameter("X-Amz-Date"))), nil)
            }
            amzDate = d
            guard let e = params.first(where: { $0.0 == "X-Amz-Expires" })?.1, let seconds = Int64(e), seconds > 0, seconds <= 604_800 else {
                return (.refused(Self.incomplete(.missingQueryParameter("X-Amz-Expires"))), nil)
            }
            presignedExpiry = seconds
            token = params.first { $0.0 == "X-Amz-Security-Token" }?.1 ?? token
        }

        // The credential scope must name this API's region and execute-api.
        var scopeProblems = ""
        if auth.credential.region != region { scopeProblems += "Credential should be scoped to a valid region, not '\(auth.credential.region)'. " }
        if auth.credential.service != Self.service { scopeProblems += "Credential should be scoped to correct service: '\(Self.service)'. " }
        if !scopeProblems.isEmpty { return (.refused(Refusal(.INVALID_SIGNATURE, message: scopeProblems, reason: "credential scope \(auth.credential.scope)")), nil) }

        // Time: within the skew (header form), or within the presigned URL's lifetime.
        guard let signedAt = SigV4Time.parseAmzDate(amzDate) ?? SigV4Time.parseHTTPDate(amzDate) else {
            return (.refused(Refusal(.INVALID_SIGNATURE, message: "Date must be in ISO-8601 'basic format'. Got '\(amzDate)'. See http://en.wikipedia.org/wiki/ISO_8601", reason: "unreadable request date")), nil)
        }
        let stamp = SigV4Time.format(signedAt)
        guard stamp.hasPrefix(auth.credential.date) else {
            return (.refused(Refusal(.INVALID_SIGNATURE, message: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '\(auth.credential.date)' != '\(stamp.prefix(8))', from '\(stamp)'.", reason: "scope date differs from request date")), nil)
        }
        if let lifetime = presignedExpiry {
            if now > signedAt + lifetime {
                return (.refused(Refusal(.INVALID_SIGNATURE, message: "Signature expired: \(stamp) is now earlier than \(SigV4Time.format(now - lifetime)) (\(SigV4Time.format(now)) - \(lifetime) sec.)", reason: "presigned URL expired")), nil)
            }
            if signedAt > now + maxSkew {
                return (.refused(Self.notYetCurrent(stamp, now: now, skew: maxSkew)), nil)
            }
        } else {
            if signedAt < now - maxSkew {
                return (.refused(Refusal(.INVALID_SIGNATURE, message: "Signature expired: \(stamp) is now earlier than \(SigV4Time.format(now - maxSkew)) (\(SigV4Time.format(now)) - \(maxSkew / 60) min.)", reason: "request time too old")), nil)
            }
            if signedAt > now + maxSkew { return (.refused(Self.notYetCurrent(stamp, now: now, skew: maxSkew)), nil) }
        }

        // The key: known and active; temporary credentials carry their token and are in date.
        guard let key = credentials[auth.credential.accessKeyID], key.active else {
            return (.refused(Self.unrecognized("unknown or inactive access key \(auth.credential.accessKeyID)")), nil)
        }
        if let expected = key.sessionToken {
            guard let token, constantTimeEquals(Array(token.utf8), Array(expected.utf8)) else {
                return (.refused(Self.unrecognized("session token missing or wrong for \(key.accessKeyID)")), nil)
            }
            if let expires = key.expires, now >= expires {
                return (.refused(Refusal(.EXPIRED_TOKEN, message: "The security token included in the request is expired", reason: "session of \(key.accessKeyID) expired")), nil)
            }
        }

        // The signature.
        guard let canonical = SigV4.canonicalRequest(
            method: r.method, wirePath: r.wirePath, wireQuery: r.wireQuery, headers: r.headers, signedHeaders: auth.signedHeaders,
            payloadHash: r.payloadHash, omittingQuery: presignedExpiry == nil ? nil : "X-Amz-Signature")
        else {
            return (.refused(Self.incomplete(.malformedSignedHeaders(auth.signedHeaders.joined(separator: ";")))), nil)
        }
        // The string to sign carries the time in ISO 8601 basic form, also when a Date header gave it.
        let sts = SigV4.stringToSign(amzDate: stamp, scope: auth.credential.scope, canonicalRequest: canonical)
        let computed = SigV4.signature(key: signingKey(key, date: auth.credential.date, region: region, loop: loop), stringToSign: sts)
        guard constantTimeEquals(Array(computed.utf8), Array(auth.signature.utf8)) else {
            return (.refused(Refusal(
                .INVALID_SIGNATURE,
                message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'\(canonical)'\n\nThe String-to-Sign should have been\n'\(sts)'\n",
                reason: "signature mismatch for \(key.accessKeyID)")), nil)
        }
        var last = presignedExpiry.map { signedAt + $0 } ?? signedAt + maxSkew
        if let expires = key.expires { last = min(last, expires - 1) }
        let first = signedAt - maxSkew
        return (.verified(key), first <= last ? first...last : nil)
    }

    private func signingKey(_ c: SigV4Credential, date: String, region: String, loop: (any EventLoop)?) -> HMACKey {
        let id = c.accessKeyID + "/" + date + "/" + region
        return signingKeys.with(loop) { keys in
            if let k = keys[id] { return k }
            let k = SigV4.signingKey(secret: c.secret, date: date, region: region, service: Self.service)
            // Days move on: a cache that grew past any plausible working set starts over.
            if keys.count > 4096 { keys.removeAll() }
            keys[id] = k
            return k
        }
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
