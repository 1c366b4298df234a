import Testing

@testable import PortcullisAuth

/// SigV4 rules the official suite does not cover: wire paths that are already percent-encoded
/// (API Gateway encodes them again), `+` in queries (read as a space), repeated keys, and the
/// Authorization header's malformed forms with API Gateway's messages.
@Suite struct SigV4Tests {
    @Test func canonicalURIEncodesTheWirePathAgain() {
        let table: [(String, String)] = [
            ("/dev/mypath%2Fnext", "/dev/mypath%252Fnext"),
            ("/wss/@connections", "/wss/%40connections"),
            ("/dev/a%20b/%E2%82%AC", "/dev/a%2520b/%25E2%2582%25AC"),
            ("/dev/caf\u{E9}", "/dev/caf%C3%A9"),
            ("/dev/-._~", "/dev/-._~"),
            ("/dev/a+b=c;d,e", "/dev/a%2Bb%3Dc%3Bd%2Ce"),
            ("", "/"),
            ("/", "/"),
            ("/a//b/./c/../", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/../../x", "/x"),
            ("//", "/"),
        ]
        for (wire, canonical) in table {
            #expect(SigV4.canonicalURI(wirePath: Array(wire.utf8)) == canonical, "\(wire)")
        }
    }

    @Test func canonicalQueryDecodesThenEncodesAndSorts() {
        let table: [(String, String)] = [
            ("$filter=id+eq+123", "%24filter=id%20eq%20123"),
            ("b=2&a=3&a=1", "a=1&a=3&b=2"),
            ("Param1", "Param1="),
            ("a=&b", "a=&b="),
            ("", ""),
            ("&&a=1&", "a=1"),
            ("q=%7e%41", "q=~A"),
            ("k=a%2Bb", "k=a%2Bb"),
            ("k=100%", "k=100%25"),
            ("Z=1&a=1", "Z=1&a=1"),
        ]
        for (wire, canonical) in table {
            #expect(SigV4.canonicalQuery(wireQuery: Array(wire.utf8)) == canonical, "\(wire)")
        }
        #expect(SigV4.canonicalQuery(wireQuery: Array("X-Amz-Signature=ab&X-Amz-Date=1".utf8), omitting: "X-Amz-Signature") == "X-Amz-Date=1")
    }

    @Test func headerValuesAreTrimmedAndCollapsedAndRepeatsJoined() throws {
        #expect(SigV4.canonicalHeaderValue("  a   b \t c  ") == "a b c")
        let canonical = try #require(
            SigV4.canonicalRequest(
                method: "GET", wirePath: Array("/".utf8), wireQuery: [], headers: [("Host", "h"), ("X-A", " 1 "), ("x-a", "2")],
                signedHeaders: ["host", "x-a"], payloadHash: SigV4.emptyPayloadHash))
        #expect(canonical == "GET\n/\n\nhost:h\nx-a:1,2\n\nhost;x-a\n" + SigV4.emptyPayloadHash)
        // A signed header the request does not carry cannot be verified.
        #expect(
            SigV4.canonicalRequest(
                method: "GET", wirePath: Array("/".utf8), wireQuery: [], headers: [("Host", "h")], signedHeaders: ["host", "x-b"],
                payloadHash: SigV4.emptyPayloadHash) == nil)
    }

    @Test func authorizationHeaderParses() throws {
        let a = try SigV4Authorization.parse(
            header: "AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + String(repeating: "a", count: 64)
        ).get()
        #expect(a.credential.accessKeyID == "AKID")
        #expect(a.credential.scope == "20240102/eu-west-1/execute-api/aws4_request")
        #expect(a.signedHeaders == ["host", "x-amz-date"])
    }

    @Test func malformedAuthorizationHeadersGetAPIGatewayMessages() {
        let sig = String(repeating: "0", count: 64)
        func failure(_ header: String) -> SigV4Failure? {
            if case .failure(let f) = SigV4Authorization.parse(header: header) { return f }
            return nil
        }
        #expect(
            failure("Bearer x")?.message
                == "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=Bearer x"
        )
        #expect(failure("AWS4-HMAC-SHA256 Credential=A/20240102/r/s/aws4_request, Signature=\(sig)") == .incomplete(missing: ["SignedHeaders"], header: "AWS4-HMAC-SHA256 Credential=A/20240102/r/s/aws4_request, Signature=\(sig)"))
        #expect(failure("AWS4-HMAC-SHA256 Credential") == .malformedPair("Credential", header: "AWS4-HMAC-SHA256 Credential"))
        #expect(failure("AWS4-HMAC-SHA256 Credential=A/2024/r/s/aws4_request, SignedHeaders=host, Signature=\(sig)") == .malformedCredential("A/2024/r/s/aws4_request"))
        #expect(failure("AWS4-HMAC-SHA256 Credential=A/20240102/r/s/aws4_request, SignedHeaders=x-amz-date, Signature=\(sig)") == .hostNotSigned)
        #expect(failure("AWS4-HMAC-SHA256 Credential=A/20240102/r/s/aws4_request, SignedHeaders=Host, Signature=\(sig)") == .malformedSignedHeaders("Host"))
        #expect(failure("AWS4-HMAC-SHA256 Credential=A/20240102/r/s/aws4_request, SignedHeaders=host, Signature=XYZ") == .malformedSignature)
        let many = (0..<100).map { "h\($0)" }.joined(separator: ";")
        #expect(failure("AWS4-HMAC-SHA256 Credential=A/20240102/r/s/aws4_request, SignedHeaders=host;\(many), Signature=\(sig)") == .malformedSignedHeaders("host;\(many)"))
    }

    @Test func presignedQueryParses() throws {
        let sig = String(repeating: "b", count: 64)
        var q: [(String, String)] = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", "AKID/20240102/eu-west-1/execute-api/aws4_request"),
            ("X-Amz-SignedHeaders", "host"), ("X-Amz-Signature", sig),
        ]
        #expect(try SigV4Authorization.parse(query: q)?.get().signature == sig)
        #expect(SigV4Authorization.parse(query: [("a", "b")]) == nil)
        q.append(("X-Amz-Signature", sig))
        guard case .failure(.duplicateParameter("X-Amz-Signature"))? = SigV4Authorization.parse(query: q) else {
            Issue.record("a duplicated signature must be refused")
            return
        }
        q.removeLast()
        q.removeFirst()
        guard case .failure(.missingQueryParameter("X-Amz-Algorithm"))? = SigV4Authorization.parse(query: q) else {
            Issue.record("a presigned URL without its algorithm must be refused")
            return
        }
    }

    /// The signing key chain, checked against the suite's published get-vanilla signature.
    @Test func signingKeyAndSignature() {
        let key = SigV4.signingKey(secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", date: "20150830", region: "us-east-1", service: "service")
        let sts = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        #expect(SigV4.signature(key: key, stringToSign: sts) == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }
}
