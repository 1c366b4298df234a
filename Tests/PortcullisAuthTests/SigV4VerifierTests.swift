import Foundation
import PortcullisCore
import Testing

@testable import PortcullisAuth

/// The verifier in API Gateway's order and with its messages: botocore-signed requests verify
/// (header and presigned, with and without session tokens), and each way of failing is refused
/// with the right type, x-amzn-ErrorType and message. A fake clock drives every time rule.
@Suite struct SigV4VerifierTests {
    static let principal = "arn:aws:iam::123456789012:user/alice"

    static func request(_ r: SigV4VectorTests.RawRequest) -> SigV4Request {
        SigV4Request(method: r.method, wirePath: r.path, wireQuery: r.query, headers: r.headers, payloadHash: SigV4.hexSHA256(r.body))
    }

    /// When a request was signed: its X-Amz-Date, from the header or the presigned query.
    static func signedAt(_ r: SigV4Request) -> Int64 {
        let d = r.header("x-amz-date") ?? r.queryParameters.first { $0.0 == "X-Amz-Date" }!.1
        return SigV4Time.parseAmzDate(d)!
    }

    static func hasToken(_ r: SigV4Request) -> Bool {
        r.header("x-amz-security-token") != nil || r.queryParameters.contains { $0.0 == "X-Amz-Security-Token" }
    }

    func signed() throws -> (SigV4Verifier, SigV4Verifier, [SigV4Request]) {
        let s = try SigV4InteropTests.signWithBotocore()
        let key = "AKIAPORTCULLISTEST01", temporaryKey = "ASIAPORTCULLISTEST02", token = "FwoGZXIvYXdzEXAMPLEsessiontoken/+="
        let plain = SigV4Verifier(credentials: [SigV4Credential(accessKeyID: key, secret: s.secret, principalARN: Self.principal)])
        let temporary = SigV4Verifier(credentials: [
            SigV4Credential(accessKeyID: temporaryKey, secret: s.secret, principalARN: Self.principal, sessionToken: token, expires: Int64.max)
        ])
        return (plain, temporary, s.requests.map(Self.request))
    }

    func refusal(_ v: SigV4Verdict) -> Refusal? {
        if case .refused(let r) = v { return r }
        return nil
    }

    @Test func botocoreRequestsVerifyWithinTime() throws {
        let (plain, temporary, requests) = try signed()
        for r in requests {
            let verifier = Self.hasToken(r) ? temporary : plain
            let at = Self.signedAt(r)
            guard case .verified(let c) = verifier.verify(r, region: "eu-west-1", now: at + 60) else {
                Issue.record("\(r.method) \(String(decoding: r.wirePath, as: UTF8.self)) did not verify: \(verifier.verify(r, region: "eu-west-1", now: at + 60))")
                continue
            }
            #expect(c.principalARN == Self.principal)
            #expect(c.accountID == "123456789012")
        }
    }

    @Test func refusalsInAPIGatewayOrderAndWords() throws {
        let (plain, temporary, requests) = try signed()
        let header = try #require(requests.first { $0.header("authorization") != nil && !Self.hasToken($0) })
        let withToken = try #require(requests.first { $0.header("authorization") != nil && Self.hasToken($0) })
        let presigned = try #require(requests.first { $0.header("authorization") == nil && !Self.hasToken($0) })
        let at = Self.signedAt(header)

        // No signature at all: abstain with Missing Authentication Token.
        var bare = header
        bare.headers.removeAll { $0.0.lowercased() == "authorization" }
        guard case .absent(let missing) = plain.verify(bare, region: "eu-west-1", now: at) else {
            Issue.record("an unsigned request must be absent, not refused")
            return
        }
        #expect(missing.type == .MISSING_AUTHENTICATION_TOKEN)

        // Not SigV4.
        var bearer = header
        bearer.headers = bearer.headers.map { $0.0.lowercased() == "authorization" ? ($0.0, "Bearer x") : $0 }
        let incomplete = try #require(refusal(plain.verify(bearer, region: "eu-west-1", now: at)))
        #expect(incomplete.errorType == "IncompleteSignatureException")
        #expect(incomplete.message?.hasPrefix("Authorization header requires 'Credential' parameter.") == true)

        // Another region.
        let region = try #require(refusal(plain.verify(header, region: "us-east-1", now: at)))
        #expect(region.type == .INVALID_SIGNATURE)
        #expect(region.message == "Credential should be scoped to a valid region, not 'eu-west-1'. ")

        // Too old and too new, by one second past five minutes.
        let stamp = SigV4Time.format(at)
        let old = try #require(refusal(plain.verify(header, region: "eu-west-1", now: at + 301)))
        #expect(old.message == "Signature expired: \(stamp) is now earlier than \(SigV4Time.format(at + 1)) (\(SigV4Time.format(at + 301)) - 5 min.)")
        let future = try #require(refusal(plain.verify(header, region: "eu-west-1", now: at - 301)))
        #expect(future.message == "Signature not yet current: \(stamp) is still later than \(SigV4Time.format(at - 1)) (\(SigV4Time.format(at - 301)) + 5 min.)")
        #expect(refusal(plain.verify(header, region: "eu-west-1", now: at + 300)) == nil)

        // Unknown or inactive key.
        let nobody = SigV4Verifier(credentials: [])
        let unknown = try #require(refusal(nobody.verify(header, region: "eu-west-1", now: at)))
        #expect(unknown.errorType == "UnrecognizedClientException")
        #expect(unknown.message == "The security token included in the request is invalid.")
        let inactive = SigV4Verifier(credentials: [
            SigV4Credential(accessKeyID: "AKIAPORTCULLISTEST01", secret: "x", principalARN: Self.principal, active: false)
        ])
        #expect(refusal(inactive.verify(header, region: "eu-west-1", now: at))?.errorType == "UnrecognizedClientException")

        // Temporary credentials: a request without the token, and an expired session.
        var tokenless = withToken
        tokenless.headers.removeAll { $0.0.lowercased() == "x-amz-security-token" }
        #expect(refusal(temporary.verify(tokenless, region: "eu-west-1", now: Self.signedAt(withToken)))?.errorType == "UnrecognizedClientException")
        let expiredSession = SigV4Verifier(credentials: [
            SigV4Credential(
                accessKeyID: "ASIAPORTCULLISTEST02", secret: "x", principalARN: Self.principal,
                sessionToken: "FwoGZXIvYXdzEXAMPLEsessiontoken/+=", expires: Self.signedAt(withToken) - 1)
        ])
        let expired = try #require(refusal(expiredSession.verify(withToken, region: "eu-west-1", now: Self.signedAt(withToken))))
        #expect(expired.type == .EXPIRED_TOKEN)
        #expect(expired.message == "The security token included in the request is expired")

        // A body that is not the signed one.
        var tampered = header
        tampered.payloadHash = SigV4.hexSHA256(Array("other".utf8))
        let mismatch = try #require(refusal(plain.verify(tampered, region: "eu-west-1", now: at)))
        #expect(mismatch.type == .INVALID_SIGNATURE)
        #expect(mismatch.message?.hasPrefix("The request signature we calculated does not match the signature you provided.") == true)
        #expect(mismatch.message?.contains("The Canonical String for this request should have been\n'\(tampered.method)\n") == true)

        // A presigned URL is good for its X-Amz-Expires (300 s here), not one second more.
        let pAt = Self.signedAt(presigned)
        #expect(refusal(plain.verify(presigned, region: "eu-west-1", now: pAt + 300)) == nil)
        let late = try #require(refusal(plain.verify(presigned, region: "eu-west-1", now: pAt + 301)))
        #expect(late.message?.hasPrefix("Signature expired: ") == true)
    }

    @Test func timeFormats() {
        #expect(SigV4Time.parseAmzDate("20150830T123600Z") == 1_440_938_160)
        #expect(SigV4Time.parseHTTPDate("Sun, 30 Aug 2015 12:36:00 GMT") == 1_440_938_160)
        #expect(SigV4Time.format(1_440_938_160) == "20150830T123600Z")
        #expect(SigV4Time.format(951_782_400) == "20000229T000000Z")
        for bad in ["20150830T123600", "2015083OT123600Z", "20151330T123600Z", ""] { #expect(SigV4Time.parseAmzDate(bad) == nil, "\(bad)") }
    }
}
