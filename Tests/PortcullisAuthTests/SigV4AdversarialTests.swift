import Foundation
import PortcullisCore
import Testing

@testable import PortcullisAuth
@testable import PortcullisPolicy

/// Issue 16, "Bad input", below the gateway: malformed Authorization headers, duplicated and
/// out-of-range X-Amz-* parameters, odd SignedHeaders lists, unreadable dates, both signing forms
/// at once, and byte-by-byte corruption of a good signature. Each is refused with the gateway
/// response type, x-amzn-ErrorType and message API Gateway gives (AWS_SEMANTICS §3.5 where it
/// has one) and none verifies. Then policies: operators that do not exist or are misused are
/// check errors, and pathological wildcards answer correctly.
///
/// Requests are signed here with the module's public SigV4 pieces, so that a key holder can sign
/// what a proper SDK never would (an unsorted SignedHeaders list, a duplicated X-Amz-Date): the
/// question is then whether the verifier accepts the form, not whether the signature matches.
@Suite struct SigV4AdversarialTests {
    static let keyID = "AKIAADVERSARIAL00001"
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYADVERSARY"
    static let principal = "arn:aws:iam::123456789012:user/mallory"
    static let region = "eu-west-1"
    static let host = "abc123.execute-api.eu-west-1.amazonaws.com"
    /// 2026-01-01T00:00:00Z: the verifier's clock in every test, and when every request is signed.
    static let now: Int64 = 1_767_225_600
    static let amzDate = "20260101T000000Z"
    static let date = "20260101"
    static let scope = "20260101/eu-west-1/execute-api/aws4_request"
    static let credential = "\(keyID)/\(scope)"
    static let verifier = SigV4Verifier(credentials: [SigV4Credential(accessKeyID: keyID, secret: secret, principalARN: principal)])

    // x-amzn-ErrorType values and message beginnings (AWS_SEMANTICS §3.5, SigV4Failure).
    static let incomplete = "IncompleteSignatureException"
    static let invalid = "InvalidSignatureException"
    static let unrecognized = "UnrecognizedClientException"
    static let needsCredential = "Authorization header requires 'Credential' parameter."
    static let needsSignature = "Authorization header requires 'Signature' parameter."
    static let needsSignedHeaders = "Authorization header requires 'SignedHeaders' parameter."
    static let needsDate = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    static let credentialForm = "Credential should have the form ACCESS_KEY/DATE/REGION/SERVICE/aws4_request, not '"
    static let signedHeadersForm = "SignedHeaders should be lower-case header names separated by ';', not '"
    static let signatureForm = "Signature should be 64 lower-case hexadecimal digits."
    static let hostNotSigned = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    static let mismatch = "The request signature we calculated does not match the signature you provided."
    static let notISO = "Date must be in ISO-8601 'basic format'. Got '"
    static let badKey = "The security token included in the request is invalid."
    static let bothForms = "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"

    // MARK: - Building requests

    static func request(_ target: String, headers: [(String, String)], method: String = "GET") -> SigV4Request {
        let b = Array(target.utf8)
        let q = b.firstIndex(of: 0x3F)
        return SigV4Request(
            method: method, wirePath: Array(b[..<(q ?? b.endIndex)]), wireQuery: q.map { Array(b[($0 + 1)...]) } ?? [], headers: headers)
    }

    /// What a key holder signs for `r` with `signedHeaders` exactly as listed; nil when a listed
    /// header is absent from the request.
    static func signature(
        _ r: SigV4Request, signedHeaders: [String], amzDate: String = amzDate, scope: String = scope, omittingQuery: String? = nil
    ) -> String? {
        guard
            let canonical = SigV4.canonicalRequest(
                method: r.method, wirePath: r.wirePath, wireQuery: r.wireQuery, headers: r.headers, signedHeaders: signedHeaders,
                payloadHash: r.payloadHash, omittingQuery: omittingQuery)
        else { return nil }
        let sts = SigV4.stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonical)
        let s = scope.split(separator: "/").map(String.init)
        return SigV4.signature(key: SigV4.signingKey(secret: secret, date: s[0], region: s[1], service: s[2]), stringToSign: sts)
    }

    static func authorization(credential: String = credential, signedHeaders: [String], signature: String) -> String {
        "AWS4-HMAC-SHA256 Credential=\(credential), SignedHeaders=\(signedHeaders.joined(separator: ";")), Signature=\(signature)"
    }

    /// A request signed in the header form over `signedHeaders` as listed (all its headers,
    /// sorted, by default: what an SDK does).
    static func headerSigned(
        _ target: String = "/dev/items/1?a=1&b=two", extraHeaders: [(String, String)] = [], signedHeaders: [String]? = nil
    ) -> SigV4Request {
        var r = request(target, headers: [("Host", host), ("X-Amz-Date", amzDate)] + extraHeaders)
        let names = signedHeaders ?? Array(Set(r.headers.map { $0.0.lowercased() })).sorted()
        r.headers.append(("Authorization", authorization(signedHeaders: names, signature: signature(r, signedHeaders: names)!)))
        return r
    }

    static func replacing(_ name: String, in r: SigV4Request, with value: String?) -> SigV4Request {
        var r = r
        r.headers.removeAll { $0.0.lowercased() == name }
        if let value { r.headers.append((name, value)) }
        return r
    }

    static func authorizationHeader(_ r: SigV4Request) -> String { r.header("authorization")! }

    /// The credential as it goes in a query (slashes encoded).
    static func queryCredential(_ c: String = credential) -> String { c.split(separator: "/", omittingEmptySubsequences: false).joined(separator: "%2F") }

    /// A presigned URL's parameters, wire-encoded, in the order a signer writes them.
    static let presignParams: [(String, String)] = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", queryCredential()), ("X-Amz-Date", amzDate), ("X-Amz-Expires", "300"),
        ("X-Amz-SignedHeaders", "host"),
    ]

    /// A presigned GET: `params` (wire-encoded, duplicates and all) signed over with host, then
    /// `&X-Amz-Signature=` and `after` appended. `signedHeaders` and `signingScope` say what the
    /// key holder really signs (they may differ from what the parameters claim).
    static func presigned(
        _ params: [(String, String)] = presignParams, path: String = "/dev/items/1", after: String = "", signedHeaders: [String] = ["host"],
        signingDate: String = amzDate, signingScope: String = scope
    ) -> SigV4Request {
        let query = params.map { $0.0 + "=" + $0.1 }.joined(separator: "&")
        let r = request(path + "?" + query, headers: [("Host", host)])
        let sig = signature(r, signedHeaders: signedHeaders, amzDate: signingDate, scope: signingScope, omittingQuery: "X-Amz-Signature") ?? ""
        return request(path + "?" + query + "&X-Amz-Signature=" + sig + after, headers: [("Host", host)])
    }

    static func params(_ base: [(String, String)] = presignParams, replacing name: String, with value: String?) -> [(String, String)] {
        var out: [(String, String)] = []
        for (n, v) in base {
            if n != name {
                out.append((n, v))
            } else if let value {
                out.append((n, value))
            }
        }
        return out
    }

    // MARK: - Verdicts

    static func verify(_ r: SigV4Request) -> SigV4Verdict { verifier.verify(r, region: region, now: now) }

    static func isVerified(_ v: SigV4Verdict) -> Bool {
        if case .verified = v { return true }
        return false
    }

    static func refusal(_ v: SigV4Verdict) -> Refusal? {
        if case .refused(let r) = v { return r }
        return nil
    }

    /// Checks that `r` is refused with INVALID_SIGNATURE (403), `errorType` and a message that
    /// starts with `message` (or is exactly it).
    static func expectRefused(
        _ r: SigV4Request, _ errorType: String, _ message: String, exact: Bool = false, _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let v = verify(r)
        guard let refused = refusal(v) else {
            Issue.record("\(what): expected a refusal, got \(v)", sourceLocation: sourceLocation)
            return
        }
        #expect(refused.type == .INVALID_SIGNATURE && refused.type.defaultStatus == 403, "\(what)", sourceLocation: sourceLocation)
        #expect((refused.errorType ?? refused.type.errorType) == errorType, "\(what): \(refused.message ?? "nil")", sourceLocation: sourceLocation)
        let text = refused.message ?? ""
        #expect(exact ? text == message : text.hasPrefix(message), "\(what): \(text.prefix(300))", sourceLocation: sourceLocation)
    }

    // MARK: - The helpers sign as the gateway's own signer does

    @Test func helpersSignLikeTheGatewaysSigner() {
        let signer = SigV4Signer(accessKeyID: Self.keyID, secret: Self.secret, region: Self.region)
        let mine = Self.headerSigned()
        let theirs = signer.headers(for: .init(method: "GET", host: Self.host, target: "/dev/items/1?a=1&b=two"), time: Self.now)
        #expect(theirs.first { $0.0 == "Authorization" }?.1 == Self.authorizationHeader(mine))
        #expect(Self.isVerified(Self.verify(mine)))

        let presignedTarget = signer.presignedTarget(for: .init(method: "GET", host: Self.host, target: "/dev/items/1"), time: Self.now, expires: 300)
        let p = Self.presigned()
        #expect(presignedTarget == "/dev/items/1?" + String(decoding: p.wireQuery, as: UTF8.self))
        #expect(Self.isVerified(Self.verify(p)))
    }

    // MARK: - Malformed Authorization headers

    @Test func malformedAuthorizationHeadersAreRefusedWithAPIGatewaysWords() {
        let good = Self.headerSigned()
        let sig = good.header("authorization")!.split(separator: "=").last.map(String.init)!
        let c = Self.credential, sh = "host;x-amz-date"
        let alg = "AWS4-HMAC-SHA256"
        let big = 64 * 1024
        var wrongSig = Array(sig.utf8)
        wrongSig[63] = wrongSig[63] == 0x30 ? 0x31 : 0x30
        let wrong = String(decoding: wrongSig, as: UTF8.self)

        let table: [(String, String, String, String)] = [
            // Parts missing or not SigV4 at all.
            ("no Credential", "\(alg) SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.needsCredential),
            ("no SignedHeaders", "\(alg) Credential=\(c), Signature=\(sig)", Self.incomplete, Self.needsSignedHeaders),
            ("no Signature", "\(alg) Credential=\(c), SignedHeaders=\(sh)", Self.incomplete, Self.needsSignature),
            ("the algorithm alone", alg, Self.incomplete, Self.needsCredential),
            ("the algorithm and a space", alg + " ", Self.incomplete, Self.needsCredential),
            ("an empty header", "", Self.incomplete, Self.needsCredential),
            ("a bearer token", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", Self.incomplete, Self.needsCredential),
            ("lower-case algorithm", "aws4-hmac-sha256 Credential=\(c), SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.needsCredential),
            ("another algorithm", "AWS4-HMAC-SHA512 Credential=\(c), SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.needsCredential),
            ("SigV4a", "AWS4-ECDSA-P256-SHA256 Credential=\(c), SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.needsCredential),
            ("no space after the algorithm", "\(alg),Credential=\(c), SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.needsCredential),
            ("NUL after the algorithm", "\(alg)\u{0}Credential=\(c), SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.needsCredential),
            ("lower-case parameter name", "\(alg) credential=\(c), SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.needsCredential),
            ("spaces around =", "\(alg) Credential = \(c), SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.needsCredential),
            ("spaces instead of commas", "\(alg) Credential=\(c) SignedHeaders=\(sh) Signature=\(sig)", Self.incomplete, Self.needsSignature),
            ("semicolons instead of commas", "\(alg) Credential=\(c); SignedHeaders=\(sh); Signature=\(sig)", Self.incomplete, Self.needsSignature),
            ("a comma inside SignedHeaders", "\(alg) Credential=\(c), SignedHeaders=host,x-amz-date, Signature=\(sig)", Self.incomplete,
             "'x-amz-date' not a valid key=value pair (missing equal-sign) in Authorization header: '"),
            ("a word without =", "\(alg) Credential=\(c), SignedHeaders=\(sh), Signature=\(sig), junk", Self.incomplete,
             "'junk' not a valid key=value pair (missing equal-sign) in Authorization header: '"),
            // Empty values.
            ("empty Credential", "\(alg) Credential=, SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.credentialForm),
            ("empty SignedHeaders", "\(alg) Credential=\(c), SignedHeaders=, Signature=\(sig)", Self.incomplete, Self.signedHeadersForm),
            ("empty Signature", "\(alg) Credential=\(c), SignedHeaders=\(sh), Signature=", Self.incomplete, Self.signatureForm),
            // The credential's shape.
            ("credential of three parts", "\(alg) Credential=\(Self.keyID)/\(Self.date)/\(Self.region), SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.credentialForm),
            ("credential of four parts", "\(alg) Credential=\(Self.keyID)/\(Self.date)/\(Self.region)/execute-api, SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.credentialForm),
            ("credential of six parts", "\(alg) Credential=\(c)/extra, SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.credentialForm),
            ("credential without an access key", "\(alg) Credential=/\(Self.scope), SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.credentialForm),
            ("credential with a short date", "\(alg) Credential=\(Self.keyID)/2026011/\(Self.region)/execute-api/aws4_request, SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.credentialForm),
            ("credential with a letter in the date", "\(alg) Credential=\(Self.keyID)/2026O101/\(Self.region)/execute-api/aws4_request, SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.credentialForm),
            ("terminator aws4_reques", "\(alg) Credential=\(Self.keyID)/\(Self.date)/\(Self.region)/execute-api/aws4_reques, SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.credentialForm),
            ("terminator aws5_request", "\(alg) Credential=\(Self.keyID)/\(Self.date)/\(Self.region)/execute-api/aws5_request, SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.credentialForm),
            ("terminator in capitals", "\(alg) Credential=\(Self.keyID)/\(Self.date)/\(Self.region)/execute-api/AWS4_REQUEST, SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.credentialForm),
            // Duplicated parameters: which one counts must not be a matter of position.
            ("Credential twice, the first another key's", "\(alg) Credential=AKIAOTHERKEY00000001/\(Self.scope), Credential=\(c), SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, "Authorization header requires exactly one 'Credential' parameter."),
            ("Credential twice, the same", "\(alg) Credential=\(c), Credential=\(c), SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, "Authorization header requires exactly one 'Credential' parameter."),
            ("Credential twice, the second another key's", "\(alg) Credential=\(c), SignedHeaders=\(sh), Signature=\(sig), Credential=AKIAOTHERKEY00000001/\(Self.scope)", Self.incomplete, "Authorization header requires exactly one 'Credential' parameter."),
            ("Signature twice, the first wrong", "\(alg) Credential=\(c), SignedHeaders=\(sh), Signature=\(wrong), Signature=\(sig)", Self.incomplete, "Authorization header requires exactly one 'Signature' parameter."),
            ("Signature twice, the same", "\(alg) Credential=\(c), SignedHeaders=\(sh), Signature=\(sig), Signature=\(sig)", Self.incomplete, "Authorization header requires exactly one 'Signature' parameter."),
            ("SignedHeaders twice", "\(alg) Credential=\(c), SignedHeaders=host, SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, "Authorization header requires exactly one 'SignedHeaders' parameter."),
            // The credential scope.
            ("wrong service", "\(alg) Credential=\(Self.keyID)/\(Self.date)/\(Self.region)/s3/aws4_request, SignedHeaders=\(sh), Signature=\(sig)", Self.invalid, "Credential should be scoped to correct service: 'execute-api'. "),
            ("service in capitals", "\(alg) Credential=\(Self.keyID)/\(Self.date)/\(Self.region)/EXECUTE-API/aws4_request, SignedHeaders=\(sh), Signature=\(sig)", Self.invalid, "Credential should be scoped to correct service: 'execute-api'. "),
            ("wrong region", "\(alg) Credential=\(Self.keyID)/\(Self.date)/us-east-1/execute-api/aws4_request, SignedHeaders=\(sh), Signature=\(sig)", Self.invalid, "Credential should be scoped to a valid region, not 'us-east-1'. "),
            ("wrong region and service", "\(alg) Credential=\(Self.keyID)/\(Self.date)/us-east-1/lambda/aws4_request, SignedHeaders=\(sh), Signature=\(sig)", Self.invalid, "Credential should be scoped to a valid region, not 'us-east-1'. Credential should be scoped to correct service: 'execute-api'. "),
            ("empty region", "\(alg) Credential=\(Self.keyID)/\(Self.date)//execute-api/aws4_request, SignedHeaders=\(sh), Signature=\(sig)", Self.invalid, "Credential should be scoped to a valid region, not ''. "),
            ("scope date not the request's", "\(alg) Credential=\(Self.keyID)/20251231/\(Self.region)/execute-api/aws4_request, SignedHeaders=\(sh), Signature=\(sig)", Self.invalid, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20251231' != '20260101', from '20260101T000000Z'."),
            ("unknown access key", "\(alg) Credential=AKIAUNKNOWNKEY000001/\(Self.scope), SignedHeaders=\(sh), Signature=\(sig)", Self.unrecognized, Self.badKey),
            ("access key in lower case", "\(alg) Credential=\(Self.keyID.lowercased())/\(Self.scope), SignedHeaders=\(sh), Signature=\(sig)", Self.unrecognized, Self.badKey),
            ("access key with a non-ASCII letter", "\(alg) Credential=AKIA\u{C9}VERSARIAL00001/\(Self.scope), SignedHeaders=\(sh), Signature=\(sig)", Self.unrecognized, Self.badKey),
            // The signature's shape.
            ("non-hex signature", "\(alg) Credential=\(c), SignedHeaders=\(sh), Signature=\(String(repeating: "g", count: 64))", Self.incomplete, Self.signatureForm),
            ("short signature", "\(alg) Credential=\(c), SignedHeaders=\(sh), Signature=\(sig.dropLast())", Self.incomplete, Self.signatureForm),
            ("long signature", "\(alg) Credential=\(c), SignedHeaders=\(sh), Signature=\(sig)0", Self.incomplete, Self.signatureForm),
            ("upper-case signature", "\(alg) Credential=\(c), SignedHeaders=\(sh), Signature=\(sig.uppercased())", Self.incomplete, Self.signatureForm),
            ("base64 signature", "\(alg) Credential=\(c), SignedHeaders=\(sh), Signature=6zyk9z5PYA25QziT8qay2mdwO5LUQaAAXYYY61l%2FSiA%3D", Self.incomplete, Self.signatureForm),
            ("space inside the signature", "\(alg) Credential=\(c), SignedHeaders=\(sh), Signature=\(sig.prefix(32)) \(sig.dropFirst(32))", Self.incomplete, Self.signatureForm),
            ("a wrong signature", "\(alg) Credential=\(c), SignedHeaders=\(sh), Signature=\(wrong)", Self.invalid, Self.mismatch),
            // 64 KiB header values.
            ("64 KiB of junk", String(repeating: "x", count: big), Self.incomplete, Self.needsCredential),
            ("64 KiB credential", "\(alg) Credential=\(String(repeating: "A", count: big)), SignedHeaders=\(sh), Signature=\(sig)", Self.incomplete, Self.credentialForm),
            ("64 KiB signed headers", "\(alg) Credential=\(c), SignedHeaders=host;\(String(repeating: "x", count: big)), Signature=\(sig)", Self.incomplete, Self.signedHeadersForm),
            ("64 KiB signature", "\(alg) Credential=\(c), SignedHeaders=\(sh), Signature=\(String(repeating: "a", count: big))", Self.incomplete, Self.signatureForm),
            ("64 KiB of commas", "\(alg) " + String(repeating: ",", count: big), Self.incomplete, Self.needsCredential),
            ("64 KiB of = signs", "\(alg) " + String(repeating: "=", count: big), Self.incomplete, Self.needsCredential),
        ]
        for (what, header, errorType, message) in table {
            Self.expectRefused(Self.replacing("authorization", in: good, with: header), errorType, message, what)
        }
        // The incomplete message carries the header as received (API Gateway: `Authorization=<value>`).
        let bearer = Self.refusal(Self.verify(Self.replacing("authorization", in: good, with: "Bearer x")))
        #expect(bearer?.message == "\(Self.needsCredential) \(Self.needsSignature) \(Self.needsSignedHeaders) \(Self.needsDate) Authorization=Bearer x")
    }

    /// Punctuation the signature does not cover: the header's text is not signed, its three
    /// values are. A header that carries the same three values with commas or spaces to spare
    /// names the same signer (AWS SDKs differ in the spaces they write); with another signature
    /// each is refused.
    @Test func harmlessPunctuationNamesTheSameSignerAndNothingElse() {
        let good = Self.headerSigned()
        let sig = Self.authorizationHeader(good).split(separator: "=").last.map(String.init)!
        let c = Self.credential, sh = "host;x-amz-date", alg = "AWS4-HMAC-SHA256"
        let forms = [
            "\(alg) Credential=\(c),SignedHeaders=\(sh),Signature=\(sig)",
            "\(alg)   Credential=\(c),   SignedHeaders=\(sh),\tSignature=\(sig)",
            "\(alg) Credential=\(c),, SignedHeaders=\(sh),,Signature=\(sig),",
            "\(alg) Signature=\(sig), SignedHeaders=\(sh), Credential=\(c)",
        ]
        var otherSig = Array(sig.utf8)
        otherSig[0] = otherSig[0] == 0x61 ? 0x62 : 0x61
        for form in forms {
            guard case .verified(let who) = Self.verify(Self.replacing("authorization", in: good, with: form)) else {
                Issue.record("\(form) should name the signer")
                continue
            }
            #expect(who.accessKeyID == Self.keyID && who.principalARN == Self.principal)
            let forged = form.replacingOccurrences(of: sig, with: String(decoding: otherSig, as: UTF8.self))
            Self.expectRefused(Self.replacing("authorization", in: good, with: forged), Self.invalid, Self.mismatch, forged)
        }
    }

    // MARK: - SignedHeaders

    @Test func signedHeadersListsAProperSignerNeverWritesAreRefused() {
        // Each list signed by the key holder exactly as written (where the request carries the
        // headers), and also the SDK's signature with the list swapped afterwards.
        let good = Self.headerSigned()
        let goodSig = Self.authorizationHeader(good).split(separator: "=").last.map(String.init)!
        let unsigned = Self.replacing("authorization", in: good, with: nil)
        let tenThousand = ["host"] + (0..<10_000).map { "x-h\($0)" }
        let table: [(String, [String], String, String)] = [
            ("without host", ["x-amz-date"], Self.incomplete, Self.hostNotSigned),
            ("unsorted", ["x-amz-date", "host"], Self.incomplete, Self.signedHeadersForm),
            ("host twice", ["host", "host", "x-amz-date"], Self.incomplete, Self.signedHeadersForm),
            ("x-amz-date twice", ["host", "x-amz-date", "x-amz-date"], Self.incomplete, Self.signedHeadersForm),
            ("a name in capitals", ["Host", "x-amz-date"], Self.incomplete, Self.signedHeadersForm),
            ("an empty name", ["", "host", "x-amz-date"], Self.incomplete, Self.signedHeadersForm),
            ("a trailing separator", ["host", "x-amz-date", ""], Self.incomplete, Self.signedHeadersForm),
            ("a header the request lacks", ["host", "x-absent", "x-amz-date"], Self.incomplete, Self.signedHeadersForm),
            ("10,000 names", tenThousand, Self.incomplete, Self.signedHeadersForm),
        ]
        for (what, names, errorType, message) in table {
            let selfSigned = Self.signature(unsigned, signedHeaders: names) ?? goodSig
            Self.expectRefused(
                Self.replacing("authorization", in: good, with: Self.authorization(signedHeaders: names, signature: selfSigned)), errorType, message,
                "\(what), signed as listed")
            Self.expectRefused(
                Self.replacing("authorization", in: good, with: Self.authorization(signedHeaders: names, signature: goodSig)), errorType, message,
                "\(what), the SDK's signature")
        }
        // The 10,000 names are refused from the list alone.
        let huge = Self.refusal(Self.verify(Self.replacing("authorization", in: good, with: Self.authorization(signedHeaders: tenThousand, signature: goodSig))))
        #expect(huge?.message?.hasPrefix(Self.signedHeadersForm + "host;x-h0;x-h1;") == true)

        // The limit is 64 names: 64 signed headers verify, 65 are refused.
        let extra62 = (0..<62).map { (String(format: "x-h%02d", $0), "v\($0)") }
        #expect(Self.isVerified(Self.verify(Self.headerSigned(extraHeaders: extra62))))
        let extra63 = (0..<63).map { (String(format: "x-h%02d", $0), "v\($0)") }
        Self.expectRefused(Self.headerSigned(extraHeaders: extra63), Self.incomplete, Self.signedHeadersForm, "65 signed headers")
    }

    // MARK: - Dates

    @Test func unreadableDatesAreRefused() {
        let good = Self.headerSigned()
        for bad in [
            "2026-01-01T00:00:00Z", "20260101T000000", "20260101t000000z", "20261301T000000Z", "20260101T246000Z", "20260100T000000Z", "",
            "+2026010T000000Z", "2026010１T000000Z", "Thu, 01 Jan 2026 00:00:00 UTC",
        ] {
            Self.expectRefused(Self.replacing("x-amz-date", in: good, with: bad), Self.invalid, Self.notISO + bad + "'", exact: false, "X-Amz-Date \(bad)")
        }
        Self.expectRefused(Self.replacing("x-amz-date", in: good, with: nil), Self.incomplete, Self.needsDate, "neither X-Amz-Date nor Date")
    }

    /// An HTTP `Date` whose fields are numbers out of any calendar's range: the date arithmetic
    /// must refuse it, not overflow (an overflow traps and takes the whole gateway down).
    @Test func httpDatesWithHugeOrSignedFieldsAreRefusedNotACrash() {
        let good = Self.replacing("x-amz-date", in: Self.headerSigned(), with: nil)
        for bad in [
            "Thu, 01 Jan 99999999999999 00:00:00 GMT", "Thu, 01 Jan 9223372036854775807 00:00:00 GMT",
            "Thu, 01 Jan -9223372036854775808 00:00:00 GMT", "Thu, 01 Jan 300000000000 00:00:00 GMT", "Thu, 01 Jan -2026 00:00:00 GMT",
            "Thu, 01 Jan +2026 00:00:00 GMT", "Thu, 99999999999999999 Jan 2026 00:00:00 GMT", "Thu, 01 Jan 2026 -1:00:00 GMT",
            "Thu, 01 Jan 2026 00:-5:00 GMT", "Thu, 01 Jan 2026 99999999999999999:00:00 GMT", "Thu, 1 Jan 26 00:00:00 GMT",
        ] {
            Self.expectRefused(Self.replacing("date", in: good, with: bad), Self.invalid, Self.notISO + bad + "'", "Date \(bad)")
            // The same text as X-Amz-Date, and as a presigned X-Amz-Date.
            Self.expectRefused(Self.replacing("date", in: Self.headerSigned(), with: nil).replacingDate(bad), Self.invalid, Self.notISO + bad + "'", "X-Amz-Date \(bad)")
            var wireBytes: [UInt8] = []
            SigV4Encoding.encode(Array(bad.utf8), keepSlash: false, into: &wireBytes)
            let wire = String(decoding: wireBytes, as: UTF8.self)
            Self.expectRefused(Self.presigned(Self.params(replacing: "X-Amz-Date", with: wire)), Self.invalid, Self.notISO + bad + "'", "presigned X-Amz-Date \(bad)")
        }
        // A well-formed Date header still works: the request is signed at that time.
        let dated = Self.request("/dev/items/1", headers: [("Host", Self.host), ("Date", "Thu, 01 Jan 2026 00:00:00 GMT")])
        var signed = dated
        signed.headers.append(("Authorization", Self.authorization(signedHeaders: ["date", "host"], signature: Self.signature(dated, signedHeaders: ["date", "host"])!)))
        #expect(Self.isVerified(Self.verify(signed)))
    }

    // MARK: - Presigned query strings

    @Test func presignedQueriesWithDuplicatedOrBadParametersAreRefused() {
        let good = Self.presigned()
        #expect(Self.isVerified(Self.verify(good)))
        let sig = String(decoding: good.wireQuery, as: UTF8.self).split(separator: "=").last.map(String.init)!
        let P = Self.presignParams
        let other = Self.queryCredential("AKIAOTHERKEY00000001/\(Self.scope)")
        func dup(_ name: String) -> String { "Query parameter \(name) was given more than once." }
        func missing(_ name: String) -> String { "AWS query-string parameters must include '\(name)'. Re-examine the query-string parameters." }

        let table: [(String, SigV4Request, String, String)] = [
            // Duplicates, signed over by the key holder where they are part of the canonical query.
            ("X-Amz-Signature twice, the same", Self.presigned(after: "&X-Amz-Signature=\(sig)"), Self.incomplete, dup("X-Amz-Signature")),
            ("X-Amz-Signature twice, the first wrong", Self.presigned([("X-Amz-Signature", String(repeating: "0", count: 64))] + P), Self.incomplete, dup("X-Amz-Signature")),
            ("X-Amz-Signature twice, once percent-encoded", Self.presigned(after: "&X-Amz-Signatur%65=\(sig)"), Self.incomplete, dup("X-Amz-Signature")),
            ("X-Amz-Credential twice, the same", Self.presigned(P + [("X-Amz-Credential", Self.queryCredential())]), Self.incomplete, dup("X-Amz-Credential")),
            ("X-Amz-Credential twice, the first another key's", Self.presigned([("X-Amz-Credential", other)] + P), Self.incomplete, dup("X-Amz-Credential")),
            ("X-Amz-Algorithm twice", Self.presigned(P + [("X-Amz-Algorithm", "AWS4-HMAC-SHA256")]), Self.incomplete, dup("X-Amz-Algorithm")),
            ("X-Amz-SignedHeaders twice", Self.presigned(P + [("X-Amz-SignedHeaders", "host")]), Self.incomplete, dup("X-Amz-SignedHeaders")),
            ("X-Amz-Date twice, the same", Self.presigned(P + [("X-Amz-Date", Self.amzDate)]), Self.incomplete, dup("X-Amz-Date")),
            ("X-Amz-Date twice, a later one first", Self.presigned([("X-Amz-Date", "20260101T000400Z")] + P), Self.incomplete, dup("X-Amz-Date")),
            ("X-Amz-Date twice, added after signing", Self.presigned(after: "&X-Amz-Date=20260101T000400Z"), Self.incomplete, dup("X-Amz-Date")),
            ("X-Amz-Expires twice", Self.presigned(P + [("X-Amz-Expires", "604800")]), Self.incomplete, dup("X-Amz-Expires")),
            ("X-Amz-Security-Token twice", Self.presigned(P + [("X-Amz-Security-Token", "a"), ("X-Amz-Security-Token", "b")]), Self.incomplete, dup("X-Amz-Security-Token")),
            // X-Amz-Expires out of range or not a number.
            ("X-Amz-Expires missing", Self.presigned(Self.params(replacing: "X-Amz-Expires", with: nil)), Self.incomplete, missing("X-Amz-Expires")),
            ("X-Amz-Expires negative", Self.presigned(Self.params(replacing: "X-Amz-Expires", with: "-1")), Self.incomplete, missing("X-Amz-Expires")),
            ("X-Amz-Expires zero", Self.presigned(Self.params(replacing: "X-Amz-Expires", with: "0")), Self.incomplete, missing("X-Amz-Expires")),
            ("X-Amz-Expires empty", Self.presigned(Self.params(replacing: "X-Amz-Expires", with: "")), Self.incomplete, missing("X-Amz-Expires")),
            ("X-Amz-Expires not a number", Self.presigned(Self.params(replacing: "X-Amz-Expires", with: "abc")), Self.incomplete, missing("X-Amz-Expires")),
            ("X-Amz-Expires in exponent form", Self.presigned(Self.params(replacing: "X-Amz-Expires", with: "3e2")), Self.incomplete, missing("X-Amz-Expires")),
            ("X-Amz-Expires a week and a second", Self.presigned(Self.params(replacing: "X-Amz-Expires", with: "604801")), Self.incomplete, missing("X-Amz-Expires")),
            ("X-Amz-Expires past Int64", Self.presigned(Self.params(replacing: "X-Amz-Expires", with: "99999999999999999999")), Self.incomplete, missing("X-Amz-Expires")),
            ("X-Amz-Expires Int64.max", Self.presigned(Self.params(replacing: "X-Amz-Expires", with: "9223372036854775807")), Self.incomplete, missing("X-Amz-Expires")),
            // Other parameters.
            ("X-Amz-Date missing", Self.presigned(Self.params(replacing: "X-Amz-Date", with: nil)), Self.incomplete, missing("X-Amz-Date")),
            ("X-Amz-Date with dashes", Self.presigned(Self.params(replacing: "X-Amz-Date", with: "2026-01-01T00%3A00%3A00Z")), Self.invalid, Self.notISO),
            ("X-Amz-Date without Z", Self.presigned(Self.params(replacing: "X-Amz-Date", with: "20260101T000000")), Self.invalid, Self.notISO),
            ("X-Amz-Date empty", Self.presigned(Self.params(replacing: "X-Amz-Date", with: "")), Self.invalid, Self.notISO),
            ("X-Amz-Algorithm missing", Self.presigned(Self.params(replacing: "X-Amz-Algorithm", with: nil)), Self.incomplete, missing("X-Amz-Algorithm")),
            ("X-Amz-Algorithm SHA1", Self.presigned(Self.params(replacing: "X-Amz-Algorithm", with: "AWS4-HMAC-SHA1")), Self.incomplete, "X-Amz-Algorithm only supports 'AWS4-HMAC-SHA256', not 'AWS4-HMAC-SHA1'."),
            ("X-Amz-Credential missing", Self.presigned(Self.params(replacing: "X-Amz-Credential", with: nil)), Self.incomplete, missing("X-Amz-Credential")),
            ("X-Amz-Credential of four parts", Self.presigned(Self.params(replacing: "X-Amz-Credential", with: "\(Self.keyID)%2F\(Self.date)%2F\(Self.region)%2Fexecute-api")), Self.incomplete, Self.credentialForm),
            ("X-Amz-Credential for s3", Self.presigned(Self.params(replacing: "X-Amz-Credential", with: "\(Self.keyID)%2F\(Self.date)%2F\(Self.region)%2Fs3%2Faws4_request")), Self.invalid, "Credential should be scoped to correct service: 'execute-api'. "),
            ("X-Amz-SignedHeaders missing", Self.presigned(Self.params(replacing: "X-Amz-SignedHeaders", with: nil)), Self.incomplete, missing("X-Amz-SignedHeaders")),
            ("X-Amz-SignedHeaders without host", Self.presigned(Self.params(replacing: "X-Amz-SignedHeaders", with: "x-amz-date")), Self.incomplete, Self.hostNotSigned),
            ("X-Amz-SignedHeaders host twice", Self.presigned(Self.params(replacing: "X-Amz-SignedHeaders", with: "host%3Bhost"), signedHeaders: ["host", "host"]), Self.incomplete, Self.signedHeadersForm),
            ("X-Amz-Signature in capitals", Self.presigned(after: "").uppercasedSignature(), Self.incomplete, Self.signatureForm),
            ("X-Amz-Signature empty", Self.request("/dev/items/1?" + P.map { $0.0 + "=" + $0.1 }.joined(separator: "&") + "&X-Amz-Signature=", headers: [("Host", Self.host)]), Self.incomplete, Self.signatureForm),
            ("X-Amz-Signature alone", Self.request("/dev/items/1?X-Amz-Signature=\(sig)", headers: [("Host", Self.host)]), Self.incomplete, missing("X-Amz-Algorithm")),
            ("another host", Self.replacing("host", in: good, with: "evil.example.com"), Self.invalid, Self.mismatch),
            ("a parameter added", Self.presigned(after: "&admin=true"), Self.invalid, Self.mismatch),
        ]
        for (what, r, errorType, message) in table { Self.expectRefused(r, errorType, message, what) }

        // The boundaries that stay good: a week's lifetime, and a lower-case look-alike name is
        // just another (signed) parameter.
        #expect(Self.isVerified(Self.verify(Self.presigned(Self.params(replacing: "X-Amz-Expires", with: "604800")))))
        #expect(Self.isVerified(Self.verify(Self.presigned(P + [("x-amz-signature", "app-value")]))))
    }

    /// A request with an Authorization header and a presigned query names two signers; which one
    /// counts would depend on who reads it (an upstream that also reads presigned URLs would take
    /// the other one). Refused as S3 refuses it, whichever of the two is valid.
    @Test func aHeaderAndAPresignedQueryTogetherAreRefused() {
        let presigned = Self.presigned()
        let withBearer = Self.replacing("authorization", in: presigned, with: "Bearer x")
        Self.expectRefused(withBearer, Self.incomplete, Self.bothForms, exact: true, "presigned URL plus a bearer token")

        // The key holder signs the header over the whole presigned request, query and all.
        var both = Self.replacing("x-amz-date", in: presigned, with: Self.amzDate)
        both.headers.append(("Authorization", Self.authorization(signedHeaders: ["host", "x-amz-date"], signature: Self.signature(both, signedHeaders: ["host", "x-amz-date"])!)))
        Self.expectRefused(both, Self.incomplete, Self.bothForms, exact: true, "a valid header over a valid presigned query")

        // A header-signed request with a presigned query appended after signing.
        let header = Self.headerSigned("/dev/items/1")
        var appended = header
        appended.wireQuery = presigned.wireQuery
        Self.expectRefused(appended, Self.incomplete, Self.bothForms, exact: true, "a presigned query added to a header-signed request")
        // Without a presigned signature, X-Amz-* look-alikes in the query are ordinary parameters.
        #expect(Self.isVerified(Self.verify(Self.headerSigned("/dev/items/1?X-Amz-Date=1&X-Amz-Credential=x"))))
    }

    // MARK: - Corruption, byte by byte

    /// One good header-signed request; every byte of its Authorization value flipped (two ways)
    /// and the value cut after every byte: only the original verifies.
    @Test func everyFlippedOrTruncatedAuthorizationHeaderIsRefused() {
        let good = Self.headerSigned()
        #expect(Self.isVerified(Self.verify(good)))
        let value = Array(Self.authorizationHeader(good).utf8)
        var variants: [[UInt8]] = []
        for i in value.indices {
            for mask: UInt8 in [0x01, 0x20] {
                var v = value
                v[i] ^= mask
                variants.append(v)
            }
            variants.append(Array(value[..<i]))
        }
        var verified: [String] = []
        for v in variants {
            let text = String(decoding: v, as: UTF8.self)
            let verdict = Self.verify(Self.replacing("authorization", in: good, with: text))
            if Self.isVerified(verdict) { verified.append(text) }
            if case .absent = verdict { verified.append("absent: \(text)") }
        }
        #expect(variants.count >= 3 * 150)
        #expect(verified.isEmpty, "\(verified.count) of \(variants.count) variants verified: \(verified.prefix(5))")
    }

    /// The same for a presigned query: every byte flipped and every truncation; none verifies.
    @Test func everyFlippedOrTruncatedPresignedQueryIsRefused() {
        let good = Self.presigned()
        let query = good.wireQuery
        var variants: [[UInt8]] = []
        for i in query.indices {
            var v = query
            v[i] ^= 0x01
            variants.append(v)
            variants.append(Array(query[..<i]))
        }
        var verified: [String] = []
        for v in variants {
            var r = good
            r.wireQuery = v
            if Self.isVerified(Self.verify(r)) { verified.append(String(decoding: v, as: UTF8.self)) }
        }
        #expect(variants.count >= 2 * 200)
        #expect(verified.isEmpty, "\(verified.count) of \(variants.count) variants verified: \(verified.prefix(5))")
    }

    // MARK: - Policies

    static func policy(_ json: String) throws -> PolicyDocument { try PolicyDocument.parse(try JSONValue.parse(json)) }

    static func condition(_ c: String) -> String {
        #"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "*", "Condition": \#(c)}]}"#
    }

    static let arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/GET/items/1"

    @Test func unknownAndMisusedConditionOperatorsAreCheckErrors() {
        let table: [(String, String)] = [
            (#"{"StringEqualz": {"aws:UserAgent": "x"}}"#, #"Statement[0].Condition.StringEqualz: unknown condition operator "StringEqualz""#),
            (#"{"stringequals": {"aws:UserAgent": "x"}}"#, #"Statement[0].Condition.stringequals: unknown condition operator "stringequals""#),
            (#"{"": {"aws:UserAgent": "x"}}"#, #"Statement[0].Condition.: unknown condition operator """#),
            (#"{"ForAnyValue:": {"aws:UserAgent": "x"}}"#, #"Statement[0].Condition.ForAnyValue:: unknown condition operator "ForAnyValue:""#),
            (#"{"ForAllValues:": {"aws:UserAgent": "x"}}"#, #"Statement[0].Condition.ForAllValues:: unknown condition operator "ForAllValues:""#),
            (#"{"ForAnyValue": {"aws:UserAgent": "x"}}"#, #"Statement[0].Condition.ForAnyValue: unknown condition operator "ForAnyValue""#),
            (#"{"IfExists": {"aws:UserAgent": "x"}}"#, #"Statement[0].Condition.IfExists: unknown condition operator "IfExists""#),
            (#"{"ForAnyValue:IfExists": {"aws:UserAgent": "x"}}"#, #"Statement[0].Condition.ForAnyValue:IfExists: unknown condition operator "ForAnyValue:IfExists""#),
            (#"{"ForAnyValue:ForAllValues:StringEquals": {"aws:UserAgent": "x"}}"#, #"Statement[0].Condition.ForAnyValue:ForAllValues:StringEquals: unknown condition operator "ForAnyValue:ForAllValues:StringEquals""#),
            (#"{"StringEqualsIfExistsIfExists": {"aws:UserAgent": "x"}}"#, #"Statement[0].Condition.StringEqualsIfExistsIfExists: unknown condition operator "StringEqualsIfExistsIfExists""#),
            (#"{"IfExistsStringEquals": {"aws:UserAgent": "x"}}"#, #"Statement[0].Condition.IfExistsStringEquals: unknown condition operator "IfExistsStringEquals""#),
            (#"{" StringEquals": {"aws:UserAgent": "x"}}"#, #"Statement[0].Condition. StringEquals: unknown condition operator " StringEquals""#),
            (#"{"NullIfExists": {"aws:UserAgent": "true"}}"#, #"Statement[0].Condition.NullIfExists: Null takes no IfExists: it already tests whether the key exists"#),
            (#"{"ForAnyValue:NullIfExists": {"aws:UserAgent": "true"}}"#, #"Statement[0].Condition.ForAnyValue:NullIfExists: Null takes no IfExists: it already tests whether the key exists"#),
            (#"{"Null": {"aws:UserAgent": "maybe"}}"#, #"Statement[0].Condition.Null.aws:UserAgent: Null takes "true" or "false""#),
            (#"{"NumericLessThan": {"aws:EpochTime": "ten"}}"#, #"Statement[0].Condition.NumericLessThan.aws:EpochTime: "ten" is not a number"#),
            (#"{"DateLessThan": {"aws:CurrentTime": "yesterday"}}"#, #"Statement[0].Condition.DateLessThan.aws:CurrentTime: "yesterday" is not a date (ISO 8601 or seconds since 1970)"#),
            (#"{"StringEquals": "aws:UserAgent"}"#, #"Statement[0].Condition.StringEquals: expected {"key": value or list}"#),
            (#"{"StringEquals": {"aws:UserAgent": [["x"]]}}"#, #"Statement[0].Condition.StringEquals.aws:UserAgent: condition values are strings, numbers or booleans"#),
            (#"["StringEquals"]"#, "Statement[0].Condition: Condition is an object of operators"),
        ]
        for (condition, message) in table {
            do {
                _ = try Self.policy(Self.condition(condition))
                Issue.record("\(condition) loaded")
            } catch {
                #expect("\(error)" == message, "\(condition)")
            }
            // `check` reports it too, with the document refused.
            let (doc, errors) = PolicyDocument.compile(try! JSONValue.parse(Self.condition(condition)))
            #expect(doc == nil && errors.map(\.description).contains(message), "\(condition)")
        }
        // Their lawful neighbours load.
        for ok in [
            #"{"StringEqualsIfExists": {"aws:UserAgent": "x"}}"#, #"{"ForAnyValue:StringLikeIfExists": {"aws:UserAgent": "x*"}}"#,
            #"{"ForAllValues:StringEquals": {"aws:UserAgent": "x"}}"#, #"{"Null": {"aws:UserAgent": "true"}}"#,
            #"{"BoolIfExists": {"aws:SecureTransport": "true"}}"#,
        ] {
            do { _ = try Self.policy(Self.condition(ok)) } catch { Issue.record("\(ok): \(error)") }
        }
    }

    @Test func pathologicalWildcardsAnswerCorrectly() throws {
        let haystack = String(repeating: "a", count: 10_000)
        let pattern = String(repeating: "*?", count: 17) + "*b"
        let w = Wildcard(pattern)
        #expect(!w.matches(haystack))
        #expect(w.matches(haystack + "b"))
        #expect(w.matches(String(repeating: "a", count: 17) + "b"))
        #expect(!w.matches(String(repeating: "a", count: 16) + "b"))
        #expect(!w.matches(String(repeating: "b", count: 17)))
        #expect(w.matches(String(repeating: "b", count: 18)))
        #expect(!Wildcard(String(repeating: "*a", count: 50) + "*b").matches(haystack))
        #expect(!Wildcard(pattern, ignoreCase: true).matches(haystack))
        #expect(Wildcard(pattern, ignoreCase: true).matches(haystack + "B"))

        // Only stars match anything, also nothing; the empty pattern matches only the empty text.
        for stars in ["*", "**", String(repeating: "*", count: 10_000)] {
            for text in ["", "x", haystack, "caf\u{E9}/\u{65E5}\u{672C}"] { #expect(Wildcard(stars).matches(text), "\(stars.count) stars ~ \(text.count)") }
        }
        let table: [(String, String, Bool)] = [
            ("", "", true), ("", "a", false), ("a", "", false), ("?", "", false), ("*?", "", false), ("?*", "a", true), ("*?*", "", false),
            ("?", "\u{E9}", true), ("??", "\u{E9}", false), ("caf?", "caf\u{E9}", true), ("caf??", "caf\u{E9}", false),
            ("??", "\u{65E5}\u{672C}", true), ("???", "\u{65E5}\u{672C}", false), ("*?", "\u{1F600}", true), ("?*?", "\u{1F600}", false),
            ("*\u{E9}", "caf\u{E9}", true), ("*?\u{E9}", "\u{E9}", false), ("a*?b", "a\u{65E5}b", true),
        ]
        for (p, t, m) in table { #expect(Wildcard(p).matches(t) == m, "\(p) ~ \(t)") }

        // Through a policy: a Resource and a StringLike condition with the pathological pattern.
        let doc = try Self.policy(
            #"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "\#(pattern)"},"#
                + #"{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"StringLike": {"aws:UserAgent": "\#(pattern)"}}}]}"#)
        let ua = ["aws:UserAgent": [haystack]]
        #expect(PolicyEvaluator.evaluate([doc], PolicyRequest(principal: nil, action: "execute-api:Invoke", resource: haystack, keys: ua)) == .implicitlyDenied)
        #expect(PolicyEvaluator.evaluate([doc], PolicyRequest(principal: nil, action: "execute-api:Invoke", resource: haystack + "b", keys: ua)) == .allowed(sid: nil))
        #expect(
            PolicyEvaluator.evaluate([doc], PolicyRequest(principal: nil, action: "execute-api:Invoke", resource: haystack + "b", keys: ["aws:UserAgent": [haystack + "b"]]))
                == .explicitlyDenied(sid: nil))
    }

    /// Random patterns of `*`, `?` and letters (two of them outside ASCII) against random texts,
    /// checked against a plain dynamic-programming matcher over Unicode scalars written here.
    @Test func wildcardsAgreeWithAReferenceMatcher() {
        func reference(_ pattern: String, _ text: String) -> Bool {
            let p = Array(pattern.unicodeScalars), t = Array(text.unicodeScalars)
            // m[i][j]: p[..<i] matches t[..<j].
            var m = Array(repeating: Array(repeating: false, count: t.count + 1), count: p.count + 1)
            m[0][0] = true
            for i in 1...max(1, p.count) where i <= p.count {
                for j in 0...t.count {
                    switch p[i - 1] {
                    case "*": m[i][j] = m[i - 1][j] || (j > 0 && m[i][j - 1])
                    case "?": m[i][j] = j > 0 && m[i - 1][j - 1]
                    default: m[i][j] = j > 0 && m[i - 1][j - 1] && p[i - 1] == t[j - 1]
                    }
                }
            }
            return m[p.count][t.count]
        }
        var rng = SplitMix(seed: 16)
        let patternAlphabet: [Character] = ["*", "?", "a", "b", "\u{E9}", "\u{65E5}"]
        let textAlphabet: [Character] = ["a", "b", "\u{E9}", "\u{65E5}"]
        var disagreements: [String] = []
        for _ in 0..<3000 {
            let p = String((0..<rng.next(upTo: 9)).map { _ in patternAlphabet[rng.next(upTo: patternAlphabet.count)] })
            let t = String((0..<rng.next(upTo: 11)).map { _ in textAlphabet[rng.next(upTo: textAlphabet.count)] })
            if Wildcard(p).matches(t) != reference(p, t) { disagreements.append("\(p) ~ \(t)") }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements: \(disagreements.prefix(10))")
    }

    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next(upTo n: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(n))
        }
    }
}

extension SigV4Request {
    /// This request with X-Amz-Date set to `value` (replacing any).
    fileprivate func replacingDate(_ value: String) -> SigV4Request {
        var r = self
        r.headers.removeAll { $0.0.lowercased() == "x-amz-date" }
        r.headers.append(("X-Amz-Date", value))
        return r
    }

    /// This presigned request with its X-Amz-Signature value in capitals.
    fileprivate func uppercasedSignature() -> SigV4Request {
        var r = self
        let text = String(decoding: wireQuery, as: UTF8.self)
        let marker = "X-Amz-Signature="
        guard let range = text.range(of: marker) else { return r }
        r.wireQuery = Array((text[..<range.upperBound] + text[range.upperBound...].uppercased()).utf8)
        return r
    }
}
