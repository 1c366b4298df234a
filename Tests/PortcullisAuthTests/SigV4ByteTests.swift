import NIOCore
import NIOPosix
import PortcullisCore
import Testing

@testable import PortcullisAuth

/// The verifier's byte path against its String path (`verifyReference`, the rules written
/// plainly): the same verdict, refusal type, x-amzn-ErrorType, message, log reason and cache
/// window for good requests in every form and for thousands of damaged ones, read both from a
/// `SigV4Request` and from a parsed head. Then the byte encoders against the String ones, and a
/// workspace reused across requests of every size.
@Suite struct SigV4ByteTests {
    static let keyID = "AKIABYTEPATH00000001"
    static let temporaryKeyID = "ASIABYTEPATH00000002"
    static let secret = "byte-path-secret/0123456789+abcdefGHIJ"
    static let token = "FwoGZXIvYXdzEBYTEPATHsessiontoken/+="
    static let region = "eu-west-1"
    static let host = "abc123.execute-api.eu-west-1.amazonaws.com"
    static let now: Int64 = 1_767_225_600  // 2026-01-01T00:00:00Z

    static let verifier = SigV4Verifier(credentials: [
        SigV4Credential(accessKeyID: keyID, secret: secret, principalARN: "arn:aws:iam::123456789012:user/b"),
        SigV4Credential(
            accessKeyID: temporaryKeyID, secret: secret, principalARN: "arn:aws:iam::123456789012:role/r", sessionToken: token,
            expires: now + 120),
        SigV4Credential(accessKeyID: "AKIAINACTIVE00000003", secret: secret, principalARN: "arn:aws:iam::123456789012:user/x", active: false),
    ])

    // MARK: - Requests

    static func split(_ target: String) -> ([UInt8], [UInt8]) {
        let b = Array(target.utf8)
        guard let q = b.firstIndex(of: 0x3F) else { return (b, []) }
        return (Array(b[..<q]), Array(b[(q + 1)...]))
    }

    /// Good requests in every form the verifier reads.
    static func goodRequests() -> [SigV4Request] {
        let plain = SigV4Signer(accessKeyID: keyID, secret: secret, region: region)
        let temporary = SigV4Signer(accessKeyID: temporaryKeyID, secret: secret, sessionToken: token, region: region)
        var out: [SigV4Request] = []
        func headerSigned(_ signer: SigV4Signer, _ method: String, _ target: String, _ headers: [(String, String)], body: [UInt8] = []) {
            let r = SigV4Signer.Request(method: method, host: host, target: target, headers: headers, body: body)
            let all = (headers.contains { $0.0.lowercased() == "host" } ? [] : [("Host", host)]) + headers + signer.headers(for: r, time: now)
            let (path, query) = split(target)
            out.append(SigV4Request(method: method, wirePath: path, wireQuery: query, headers: all, payloadHash: SigV4.hexSHA256(body)))
        }
        func presigned(_ signer: SigV4Signer, _ target: String) {
            let t = signer.presignedTarget(for: .init(method: "GET", host: host, target: target), time: now, expires: 300)
            let (path, query) = split(t)
            out.append(SigV4Request(method: "GET", wirePath: path, wireQuery: query, headers: [("Host", host)]))
        }
        headerSigned(plain, "GET", "/dev/items/1?b=two&a=1&a=0&c=%2Fx&d=+y&e&=f", [("X-Custom", "  spaced   value "), ("X-Rep", "1"), ("x-rep", "2")])
        headerSigned(plain, "POST", "/dev/a/./b/../c//d/%7Ee%20f/", [("Content-Type", "application/json")], body: Array(#"{"a":1}"#.utf8))
        headerSigned(plain, "GET", "/", [])
        headerSigned(temporary, "DELETE", "/dev/items/2?x-amz-date=1&X-Amz-Credential=look-alike", [])
        headerSigned(plain, "PATCH", "/dev/caf%C3%A9/@x?k=a%2Bb&empty=&x=~&sp=a%20b&q=hello+world", [("X-Tab", "a\tb")])
        presigned(plain, "/dev/items/1")
        presigned(plain, "/dev/search?q=1&q=0&z=%24&a=b%3Dc")
        presigned(temporary, "/dev/items/3")
        // The Date header instead of X-Amz-Date (the signer always adds X-Amz-Date: signed here).
        let dateHeaders = [("Host", host), ("Date", "Thu, 01 Jan 2026 00:00:00 GMT")]
        let scope = "20260101/\(region)/execute-api/aws4_request"
        let canonical = SigV4.canonicalRequest(
            method: "GET", wirePath: Array("/dev/dated".utf8), wireQuery: [], headers: dateHeaders, signedHeaders: ["date", "host"],
            payloadHash: SigV4.emptyPayloadHash)!
        let sts = SigV4.stringToSign(amzDate: "20260101T000000Z", scope: scope, canonicalRequest: canonical)
        let signature = SigV4.signature(
            key: SigV4.signingKey(secret: secret, date: "20260101", region: region, service: "execute-api"), stringToSign: sts)
        out.append(
            SigV4Request(
                method: "GET", wirePath: Array("/dev/dated".utf8), wireQuery: [],
                headers: dateHeaders + [("Authorization", "AWS4-HMAC-SHA256 Credential=\(keyID)/\(scope), SignedHeaders=date;host, Signature=\(signature)")]))
        return out
    }

    /// Each good request damaged every way a byte can be: flipped, replaced by punctuation that
    /// matters to the parsers or by a non-ASCII byte, cut; headers dropped, doubled, renamed.
    static func damaged(_ r: SigV4Request) -> [SigV4Request] {
        var out: [SigV4Request] = []
        let replacements: [UInt8] = [0x25, 0x2B, 0x26, 0x3D, 0x2F, 0x2E, 0x20, 0xC3]
        for i in r.wireQuery.indices {
            var flipped = r
            flipped.wireQuery[i] ^= 0x01
            out.append(flipped)
            for c in replacements where i % 3 == 0 {
                var x = r
                x.wireQuery[i] = c
                out.append(x)
            }
            if i % 7 == 0 {
                var cut = r
                cut.wireQuery = Array(r.wireQuery[..<i])
                out.append(cut)
            }
        }
        for i in r.wirePath.indices {
            for c: UInt8 in [0x2F, 0x2E, 0x25] {
                var x = r
                x.wirePath[i] = c
                out.append(x)
            }
        }
        for (h, (name, value)) in r.headers.enumerated() {
            var dropped = r
            dropped.headers.remove(at: h)
            out.append(dropped)
            var doubled = r
            doubled.headers.append((name, value + " "))
            out.append(doubled)
            var renamed = r
            renamed.headers[h].0 = name.uppercased()
            out.append(renamed)
            let bytes = Array(value.utf8)
            for i in bytes.indices where name.lowercased() == "authorization" || i % 5 == 0 {
                for c: UInt8 in [bytes[i] ^ 0x01, 0x2C, 0x3D, 0x20, 0x3B, 0x2F] {
                    var x = r
                    var v = bytes
                    v[i] = c
                    x.headers[h].1 = String(decoding: v, as: UTF8.self)
                    out.append(x)
                }
            }
            var nonASCII = r
            nonASCII.headers[h].1 = value + "\u{E9}"
            out.append(nonASCII)
            var folded = r
            folded.headers[h].1 = "\r\n " + value
            out.append(folded)
        }
        var bearer = r
        bearer.headers.append(("Authorization", "Bearer x"))
        out.append(bearer)
        var body = r
        body.payloadHash = SigV4.hexSHA256(Array("other".utf8))
        out.append(body)
        var noHash = r
        noHash.payloadHash = ""
        out.append(noHash)
        return out
    }

    static func describe(_ v: (verdict: SigV4Verdict, window: ClosedRange<Int64>?)) -> String {
        func refusal(_ r: Refusal) -> String {
            "\(r.type) errorType=\(r.errorType ?? "-") message=\(r.message ?? "nil") reason=\(r.reason) headers=\(r.headers.count) close=\(r.closeConnection)"
        }
        switch v.verdict {
        case .verified(let key): return "verified \(key.accessKeyID) \(key.principalARN) window=\(v.window.map { "\($0)" } ?? "nil")"
        case .absent(let r): return "absent \(refusal(r)) window=\(v.window.map { "\($0)" } ?? "nil")"
        case .refused(let r): return "refused \(refusal(r)) window=\(v.window.map { "\($0)" } ?? "nil")"
        }
    }

    // MARK: - The byte path against the reference

    @Test func bytePathAgreesWithTheReferenceOnGoodAndDamagedRequests() {
        var byBytes = 0, total = 0, verified = 0
        var disagreements: [String] = []
        let times: [Int64] = [0, 119, 120, 300, 301, -301, 86_400]
        for good in Self.goodRequests() {
            guard case .verified = Self.verifier.verify(good, region: Self.region, now: Self.now) else {
                Issue.record("\(good) must verify")
                continue
            }
            for (k, r) in ([good] + Self.damaged(good)).enumerated() {
                let offsets = k == 0 ? times : [times[k % times.count]]
                for offset in offsets {
                    for region in k % 11 == 0 ? [Self.region, "us-east-1", "eu-w\u{E9}st-1"] : [Self.region] {
                        total += 1
                        let reference = Self.describe(Self.verifier.verifyReference(r, region: region, now: Self.now + offset))
                        let mine: String
                        switch Self.verifier.byteOutcome(r, region: region, now: Self.now + offset, on: nil) {
                        case .needsReference:
                            mine = Self.describe(Self.verifier.verifyWithWindow(r, region: region, now: Self.now + offset))
                        case .decided(let verdict, let window):
                            byBytes += 1
                            mine = Self.describe((verdict, window))
                        }
                        if mine.hasPrefix("verified") { verified += 1 }
                        if mine != reference {
                            disagreements.append("\(r.method) \(String(decoding: r.wirePath + [0x3F] + r.wireQuery, as: UTF8.self)) \(r.headers) +\(offset)s in \(region):\n  bytes:     \(mine)\n  reference: \(reference)")
                        }
                    }
                }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) of \(total) differ; first: \(disagreements.prefix(3).joined(separator: "\n"))")
        #expect(total > 10_000)
        #expect(byBytes * 10 > total * 8, "only \(byBytes) of \(total) went the byte way")
        #expect(verified >= Self.goodRequests().count, "the good requests must verify (\(verified))")
    }

    /// What the gateway runs: a parsed head, read where it lies, against the reference on the
    /// head's own pairs (what the authorizer built before).
    @Test func headPathAgreesWithTheReference() throws {
        var checked = 0
        var disagreements: [String] = []
        var fields: [HeaderField] = []
        let times: [Int64] = [0, 119, 120, 300, 301, -301, 86_400]
        for good in Self.goodRequests() {
            for (k, r) in ([good] + Self.damaged(good)).enumerated() {
                let now = Self.now + times[k % times.count]
                var text = Array(r.method.utf8) + [0x20] + r.wirePath + (r.wireQuery.isEmpty ? [] : [0x3F] + r.wireQuery) + Array(" HTTP/1.1\r\n".utf8)
                for (n, v) in r.headers { text += Array("\(n): \(v)\r\n".utf8) }
                text += Array("\r\n".utf8)
                guard let head = try? HeadParser.parseRequest(ByteBuffer(bytes: text), limits: HeadLimits(), reusing: &fields) else { continue }
                checked += 1
                let (path, query) = head.headers.raw.withUnsafeReadableBytes { p -> ([UInt8], [UInt8]) in
                    let s = Int(head.targetStart), pe = s + Int(head.pathLength), e = s + Int(head.targetLength)
                    return (Array(p[s..<pe]), pe < e ? Array(p[(pe + 1)..<e]) : [])
                }
                let asBefore = SigV4Request(method: head.method.name, wirePath: path, wireQuery: query, headers: head.headers.pairs, payloadHash: r.payloadHash)
                let reference = Self.describe(Self.verifier.verifyReference(asBefore, region: Self.region, now: now))
                let mine = Self.describe(Self.verifier.verifyWithWindow(head: head, payloadHash: r.payloadHash, region: Self.region, now: now, on: nil))
                if mine != reference { disagreements.append("\(String(decoding: text, as: UTF8.self))\n  bytes:     \(mine)\n  reference: \(reference)") }
            }
        }
        #expect(checked > 2_000)
        #expect(disagreements.isEmpty, "\(disagreements.count) of \(checked) differ; first: \(disagreements.prefix(2).joined(separator: "\n"))")
    }

    /// Keys that are not ASCII leave every request to the String path, which still verifies.
    @Test func nonASCIIKeysGoTheReferenceWay() {
        let odd = SigV4Verifier(credentials: [SigV4Credential(accessKeyID: "AKIA\u{C9}T\u{C9}", secret: Self.secret, principalARN: "arn:aws:iam::1:user/e")])
        let signer = SigV4Signer(accessKeyID: "AKIA\u{C9}T\u{C9}", secret: Self.secret, region: Self.region)
        let r = SigV4Signer.Request(method: "GET", host: Self.host, target: "/dev/x")
        let request = SigV4Request(method: "GET", wirePath: Array("/dev/x".utf8), wireQuery: [], headers: [("Host", Self.host)] + signer.headers(for: r, time: Self.now))
        guard case .needsReference = odd.byteOutcome(request, region: Self.region, now: Self.now, on: nil) else {
            Issue.record("a verifier with a non-ASCII access key must leave requests to the String path")
            return
        }
        guard case .verified = odd.verify(request, region: Self.region, now: Self.now) else {
            Issue.record("the String path must verify it")
            return
        }
    }

    /// One workspace serves a huge request and then small ones: the huge one's buffers are let
    /// go, and nothing of one request shows in the next.
    @Test func aWorkspaceServesRequestsOfEverySizeInTurn() {
        let group = MultiThreadedEventLoopGroup.singleton
        let loop = group.next()
        let verifier = SigV4Verifier(credentials: [SigV4Credential(accessKeyID: Self.keyID, secret: Self.secret, principalARN: "arn:aws:iam::1:user/b")], group: group)
        let signer = SigV4Signer(accessKeyID: Self.keyID, secret: Self.secret, region: Self.region)
        func request(_ target: String, _ headers: [(String, String)]) -> SigV4Request {
            let r = SigV4Signer.Request(method: "GET", host: Self.host, target: target, headers: headers)
            let (path, query) = Self.split(target)
            return SigV4Request(method: "GET", wirePath: path, wireQuery: query, headers: [("Host", Self.host)] + headers + signer.headers(for: r, time: Self.now))
        }
        let huge = request("/dev/" + String(repeating: "p%2F", count: 30_000) + "?" + (0..<3000).map { "k\($0)=v%20\($0)" }.joined(separator: "&"), [("X-Big", String(repeating: "v ", count: 40_000))])
        let small = request("/dev/s?b=1&a=2", [("X-Small", "s")])
        let results = try? loop.submit { () -> [String] in
            [small, huge, small, huge, small].map { Self.describe(verifier.verifyWithWindow($0, region: Self.region, now: Self.now, on: loop)) }
        }.wait()
        let expected = [small, huge, small, huge, small].map { Self.describe(verifier.verifyReference($0, region: Self.region, now: Self.now)) }
        #expect(results == expected)
        #expect(results?.allSatisfy { $0.hasPrefix("verified") } == true)
        let capacities = try? loop.submit { verifier.workspaces.with(loop) { [$0.canonical.capacity, $0.queryBytes.capacity, $0.wire.capacity] } }.wait()
        #expect(capacities?.allSatisfy { $0 <= 64 * 1024 } == true, "\(capacities ?? [])")
    }

    // MARK: - The encoders

    @Test func unreservedIsTheSetSigV4Names() {
        for c in 0...255 {
            let b = UInt8(c)
            let rule = (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
            #expect(SigV4Encoding.isUnreserved(b) == rule, "\(c)")
        }
    }

    @Test func byteEncodersWriteWhatTheStringOnesReturn() {
        var rng = SigV4AdversarialTests.SplitMix(seed: 17)
        let alphabet: [[UInt8]] = ["/", ".", "..", "a", "%2F", "%", "%4", "%41", "+", " ", "=", "&", "~", "\u{E9}", "%zz", "\t", "Z"].map { Array($0.utf8) } + [[0xFF], [0x00]]
        var scratch = ByteScratch(capacity: 4)
        var ws = SigV4Workspace()
        for _ in 0..<3000 {
            var bytes: [UInt8] = []
            for _ in 0..<rng.next(upTo: 14) { bytes += alphabet[rng.next(upTo: alphabet.count)] }
            scratch.removeAll()
            bytes.withUnsafeBytes { SigV4Encoding.appendCanonicalURI($0, to: &scratch) }
            #expect(scratch.text == SigV4.canonicalURI(wirePath: bytes), "\(bytes)")
            for omit in [false, true] {
                ws.canonical.removeAll()
                var query = bytes
                if omit && rng.next(upTo: 2) == 0 { query += Array("&X-Amz-Signature=ab&X-Amz-%53ignature".utf8) }
                query.withUnsafeBytes { ws.writeCanonicalQuery($0, omitSignature: omit) }
                #expect(ws.canonical.text == SigV4.canonicalQuery(wireQuery: query, omitting: omit ? "X-Amz-Signature" : nil), "\(query)")
            }
            scratch.removeAll()
            bytes.withUnsafeBytes { SigV4Encoding.appendCanonicalHeaderValue($0, to: &scratch) }
            #expect(scratch.text == SigV4.canonicalHeaderValue(String(decoding: bytes, as: UTF8.self)) || bytes.contains { $0 >= 0x80 }, "\(bytes)")
        }
    }

    @Test func bytesTimesAndNumbersReadAsTheStringOnes() {
        var scratch = ByteScratch(capacity: 1)
        for t: Int64 in [0, 1, -1, 951_782_400, 1_440_938_160, Self.now, 253_402_300_799, 253_402_300_800, -62_167_219_200, -62_167_219_201, 99_999_999_999] {
            scratch.removeAll()
            SigV4Time.appendFormatted(t, to: &scratch)
            #expect(scratch.text == SigV4Time.format(t), "\(t)")
        }
        for text in ["20150830T123600Z", "20150830T123600", "2015083OT123600Z", "20151330T123600Z", "", "99991231T235959Z", "00000101T000000Z", "20150830t123600Z"] {
            #expect(Array(text.utf8).withUnsafeBytes { SigV4Time.parseAmzDate(bytes: $0) } == SigV4Time.parseAmzDate(text), "\(text)")
        }
        for text in ["300", "+300", "-300", "0", "-0", "", "+", "-", "604800", "604801", "0300", "3e2", " 300", "99999999999999999999999", "1_000"] {
            let mine = Array(text.utf8).withUnsafeBytes { SigV4Verifier.decimal($0) }
            let theirs = Int64(text)
            // What matters is the lifetime the verifier takes from it (1 s to a week), if any.
            #expect((mine.flatMap { $0 > 0 && $0 <= 604_800 ? $0 : nil }) == (theirs.flatMap { $0 > 0 && $0 <= 604_800 ? $0 : nil }), "\(text)")
        }
    }
}
