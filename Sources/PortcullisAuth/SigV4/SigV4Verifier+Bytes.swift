import PortcullisCore
import PortcullisTLS

/// The verifier over bytes: the same checks, order, verdicts and messages as the String path
/// (`verifyReference`), reading the request where it lies and writing the canonical request and
/// string to sign into the loop's workspace. Strings are made only for a refusal's message.
///
/// Bytes and Characters agree on ASCII only (a String compares by canonical equivalence,
/// groups combining marks into Characters and repairs invalid UTF-8), so a request whose headers,
/// presigned credential or signed-header list are not ASCII, an API region or an access key that
/// is not, is left to the String path: `needsReference`, decided before any verdict.
extension SigV4Verifier {
    enum ByteOutcome {
        case decided(SigV4Verdict, ClosedRange<Int64>?)
        case needsReference
    }

    func verifyBytes(
        _ w: SigV4Wire, payloadHash: String, region: String, now: Int64, in ws: inout SigV4Workspace
    ) -> ByteOutcome {
        guard keyIDsAreASCII, region.utf8.allSatisfy({ $0 < 0x80 }), w.headersAreASCII else { return .needsReference }
        let found = w.find()
        ws.values.removeAll()
        let claim: SigV4Claim
        let amzDate: Range<Int>
        var presignedExpiry: Int64? = nil
        var token: Range<Int>? = nil
        func keep(_ r: Range<Int>) -> Range<Int> {
            let from = ws.values.count
            ws.values.append(w[r])
            return from..<ws.values.count
        }

        if let header = found.authorization {
            // A presigned query beside the header names a second signer; an upstream that reads
            // presigned URLs would believe that one. Refused whichever is valid, as S3 does.
            if !w.query.isEmpty, SigV4Claim.hasSignatureParameter(w[w.query], name: &ws.name) {
                return .decided(.refused(Self.incomplete(.headerAndQuerySignature)), nil)
            }
            switch SigV4Claim.parse(header: w[header], into: &ws.values) {
            case .failure(let f): return .decided(.refused(Self.incomplete(f)), nil)
            case .success(let c): claim = c
            }
            guard let d = found.amzDate ?? found.date else {
                let text = String(decoding: w[header], as: UTF8.self)
                return .decided(.refused(Self.incomplete(.incomplete(missing: [], header: text))), nil)
            }
            amzDate = keep(d)
            token = found.securityToken.map(keep)
        } else {
            switch SigV4Claim.parse(query: w[w.query], values: &ws.values, name: &ws.name) {
            case .absent:
                return .decided(.absent(Refusal(.MISSING_AUTHENTICATION_TOKEN, reason: "no SigV4 Authorization header or presigned query")), nil)
            case .needsReference:
                return .needsReference
            case .failure(let f):
                return .decided(.refused(Self.incomplete(f)), nil)
            case .presigned(let c, let date, let expires, let securityToken):
                claim = c
                guard let date else { return .decided(.refused(Self.incomplete(.missingQueryParameter("X-Amz-Date"))), nil) }
                amzDate = date
                guard let expires, let seconds = ws.values.withUnsafeBytes({ Self.decimal(UnsafeRawBufferPointer(rebasing: $0[expires])) }),
                    seconds > 0, seconds <= 604_800
                else { return .decided(.refused(Self.incomplete(.missingQueryParameter("X-Amz-Expires"))), nil) }
                presignedExpiry = seconds
                token = securityToken ?? found.securityToken.map(keep)
            }
        }
        // From here on the claim's bytes stay as they are; the other buffers are written.
        let values = ws.values
        return values.withUnsafeBytes { v in
            verifyClaim(
                claim, v, amzDate: amzDate, token: token, presignedExpiry: presignedExpiry, w, payloadHash: payloadHash, region: region,
                now: now, in: &ws)
        }
    }

    /// Scope, time, key, session token, then the signature.
    private func verifyClaim(
        _ claim: SigV4Claim, _ v: UnsafeRawBufferPointer, amzDate: Range<Int>, token: Range<Int>?, presignedExpiry: Int64?,
        _ w: SigV4Wire, payloadHash: String, region: String, now: Int64, in ws: inout SigV4Workspace
    ) -> ByteOutcome {
        func text(_ r: Range<Int>) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: v[r]), as: UTF8.self) }
        func refuse(_ r: Refusal) -> ByteOutcome { .decided(.refused(r), nil) }

        // The credential scope must name this API's region and execute-api.
        let regionMatches = region.utf8.withContiguousStorageIfAvailable { SigV4Claim.equals(v, claim.region, UnsafeRawBufferPointer($0)) }
            ?? (text(claim.region) == region)
        let serviceMatches = SigV4Claim.equals(v, claim.service, "execute-api")
        if !regionMatches || !serviceMatches {
            var problems = ""
            if !regionMatches { problems += "Credential should be scoped to a valid region, not '\(text(claim.region))'. " }
            if !serviceMatches { problems += "Credential should be scoped to correct service: '\(Self.service)'. " }
            return refuse(Refusal(.INVALID_SIGNATURE, message: problems, reason: "credential scope \(text(claim.scope))"))
        }

        // Time: within the skew (header form), or within the presigned URL's lifetime.
        guard let signedAt = SigV4Time.parseAmzDate(bytes: UnsafeRawBufferPointer(rebasing: v[amzDate])) ?? SigV4Time.parseHTTPDate(text(amzDate))
        else {
            return refuse(
                Refusal(
                    .INVALID_SIGNATURE, message: "Date must be in ISO-8601 'basic format'. Got '\(text(amzDate))'. See http://en.wikipedia.org/wiki/ISO_8601",
                    reason: "unreadable request date"))
        }
        // The string to sign starts with the time in ISO 8601 basic form (also when a Date header gave it).
        ws.stringToSign.removeAll()
        ws.stringToSign.append("AWS4-HMAC-SHA256\n")
        let stampStart = ws.stringToSign.count
        SigV4Time.appendFormatted(signedAt, to: &ws.stringToSign)
        let dateMatches = ws.stringToSign.withUnsafeBytes { sts in
            sts.count - stampStart >= 8 && SigV4Claim.equals(sts, stampStart..<stampStart + 8, UnsafeRawBufferPointer(rebasing: v[claim.date]))
        }
        guard dateMatches else {
            let stamp = SigV4Time.format(signedAt)
            return refuse(
                Refusal(
                    .INVALID_SIGNATURE,
                    message: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '\(text(claim.date))' != '\(stamp.prefix(8))', from '\(stamp)'.",
                    reason: "scope date differs from request date"))
        }
        if let lifetime = presignedExpiry {
            if now > signedAt + lifetime {
                return refuse(
                    Refusal(
                        .INVALID_SIGNATURE,
                        message: "Signature expired: \(SigV4Time.format(signedAt)) is now earlier than \(SigV4Time.format(now - lifetime)) (\(SigV4Time.format(now)) - \(lifetime) sec.)",
                        reason: "presigned URL expired"))
            }
            if signedAt > now + maxSkew { return refuse(Self.notYetCurrent(SigV4Time.format(signedAt), now: now, skew: maxSkew)) }
        } else {
            if signedAt < now - maxSkew {
                return refuse(
                    Refusal(
                        .INVALID_SIGNATURE,
                        message: "Signature expired: \(SigV4Time.format(signedAt)) is now earlier than \(SigV4Time.format(now - maxSkew)) (\(SigV4Time.format(now)) - \(maxSkew / 60) min.)",
                        reason: "request time too old"))
            }
            if signedAt > now + maxSkew { return refuse(Self.notYetCurrent(SigV4Time.format(signedAt), now: now, skew: maxSkew)) }
        }

        // The key: known and active; temporary credentials carry their token and are in date.
        guard let index = keyIndex(UnsafeRawBufferPointer(rebasing: v[claim.accessKeyID])), sortedKeys[index].active else {
            return refuse(Self.unrecognized("unknown or inactive access key \(text(claim.accessKeyID))"))
        }
        let key = sortedKeys[index]
        if let expected = key.sessionToken {
            guard let token, Self.tokenEquals(UnsafeRawBufferPointer(rebasing: v[token]), expected) else {
                return refuse(Self.unrecognized("session token missing or wrong for \(key.accessKeyID)"))
            }
            if let expires = key.expires, now >= expires {
                return refuse(
                    Refusal(.EXPIRED_TOKEN, message: "The security token included in the request is expired", reason: "session of \(key.accessKeyID) expired"))
            }
        }

        // The signature.
        let signedHeaders = UnsafeRawBufferPointer(rebasing: v[claim.signedHeaders])
        var hash = payloadHash
        let written = hash.withUTF8 { h in
            ws.writeCanonicalRequest(w, signedHeaders: signedHeaders, payloadHash: UnsafeRawBufferPointer(h), omitSignature: presignedExpiry != nil)
        }
        guard written else { return refuse(Self.incomplete(.malformedSignedHeaders(text(claim.signedHeaders)))) }
        let digest = ws.canonical.withUnsafeBytes { Digest.hash(.sha256, $0) }
        ws.stringToSign.append(0x0A)
        ws.stringToSign.append(UnsafeRawBufferPointer(rebasing: v[claim.scope]))
        ws.stringToSign.append(0x0A)
        SigV4Encoding.appendLowerHex(digest, to: &ws.stringToSign)
        let signingKey = ws.signingKey(
            key: index, secret: key.secret, date: UnsafeRawBufferPointer(rebasing: v[claim.date]), region: region, service: Self.service)
        let mac = ws.stringToSign.withUnsafeBytes { signingKey.authenticationCode(for: $0) }
        guard Self.signatureMatches(mac, hex: UnsafeRawBufferPointer(rebasing: v[claim.signature])) else {
            return refuse(Self.mismatch(canonical: ws.canonical.text, stringToSign: ws.stringToSign.text, key: key))
        }
        return .decided(.verified(key), Self.window(signedAt: signedAt, presignedExpiry: presignedExpiry, key: key, maxSkew: maxSkew))
    }

    /// Whether `hex` (the claimed signature: 64 lower-case hex digits, checked when parsed) is
    /// `mac` written out. Every byte is compared whatever the differences, and only the claimed
    /// (public) digits are branched on, so the time taken says nothing of the computed MAC. Plain
    /// Swift over fixed sizes: the generic `constantTimeEquals` costs more in generic dispatch
    /// here than the comparison itself.
    static func signatureMatches(_ mac: [UInt8], hex: UnsafeRawBufferPointer) -> Bool {
        guard mac.count == 32, hex.count == 64 else { return false }
        func nibble(_ c: UInt8) -> UInt8 { c <= 0x39 ? c &- 0x30 : c &- 0x57 }
        var difference: UInt8 = 0
        for i in 0..<32 {
            difference |= mac[i] ^ (nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]))
        }
        return difference == 0
    }

    /// `Int64(text)` for the digits of X-Amz-Expires: an optional sign, then digits only. Values
    /// past a week are refused by the caller, so a long number stops counting (no overflow).
    static func decimal(_ b: UnsafeRawBufferPointer) -> Int64? {
        var i = 0
        var negative = false
        if i < b.count && (b[i] == 0x2B || b[i] == 0x2D) {
            negative = b[i] == 0x2D
            i += 1
        }
        guard i < b.count else { return nil }
        var v: Int64 = 0
        while i < b.count {
            let c = b[i]
            guard c >= 0x30 && c <= 0x39 else { return nil }
            if v < 1_000_000_000_000 { v = v * 10 + Int64(c - 0x30) }
            i += 1
        }
        return negative ? -v : v
    }

    /// The request's session token against the key's, in constant time, as the String path
    /// compares them: its UTF-8 after invalid bytes are repaired.
    static func tokenEquals(_ token: UnsafeRawBufferPointer, _ expected: String) -> Bool {
        if token.allSatisfy({ $0 < 0x80 }) {
            return token.withMemoryRebound(to: UInt8.self) { t in
                expected.utf8.withContiguousStorageIfAvailable { constantTimeEquals(t, $0) } ?? constantTimeEquals(t, Array(expected.utf8))
            }
        }
        return constantTimeEquals(Array(String(decoding: token, as: UTF8.self).utf8), Array(expected.utf8))
    }
}
