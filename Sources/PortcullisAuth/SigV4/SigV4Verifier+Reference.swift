import PortcullisCore
import PortcullisTLS

/// The verifier's String path: the rules written plainly over Strings, API Gateway's order and
/// words. It judges what the byte path (`SigV4Verifier+Bytes.swift`) cannot read as bytes, text
/// that is not ASCII, and it is the reference the byte path is tested against (SigV4ByteTests).
extension SigV4Verifier {
    /// `verifyWithWindow` over Strings. Signing keys are derived afresh (this path only serves
    /// what the byte path cannot read, so it keeps no cache).
    func verifyReference(_ r: SigV4Request, region: String, now: Int64) -> (verdict: SigV4Verdict, window: ClosedRange<Int64>?) {
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
        let signing = SigV4.signingKey(secret: key.secret, date: auth.credential.date, region: region, service: Self.service)
        let computed = SigV4.signature(key: signing, stringToSign: sts)
        guard constantTimeEquals(Array(computed.utf8), Array(auth.signature.utf8)) else {
            return (.refused(Self.mismatch(canonical: canonical, stringToSign: sts, key: key)), nil)
        }
        return (.verified(key), Self.window(signedAt: signedAt, presignedExpiry: presignedExpiry, key: key, maxSkew: maxSkew))
    }
}
