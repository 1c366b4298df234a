/// What a signed request claims, read from bytes: `SigV4Authorization` without a String. Every
/// part is a range into the workspace's `values` buffer, where the parser copied (header form)
/// or percent-decoded (presigned form) it. The rules and the failures are
/// `SigV4Authorization.parse`'s, in the same order.
struct SigV4Claim {
    /// `AKID/20150830/us-east-1/execute-api/aws4_request`, and its parts.
    var credential: Range<Int>
    var accessKeyID: Range<Int>
    var date: Range<Int>
    var region: Range<Int>
    var service: Range<Int>
    /// `date/region/service/aws4_request`: the credential after the access key.
    var scope: Range<Int>
    var signedHeaders: Range<Int>
    var signature: Range<Int>

    /// `SigV4Authorization.make`: the credential's five parts, the signed-header list (sorted,
    /// distinct, lower-case, with host), the signature (64 lower-case hex digits). The parts must
    /// be ASCII (the caller sees to it), where bytes and Characters agree.
    static func make(
        _ v: UnsafeRawBufferPointer, credential: Range<Int>, signedHeaders: Range<Int>, signature: Range<Int>
    ) -> Result<SigV4Claim, SigV4Failure> {
        func text(_ r: Range<Int>) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: v[r]), as: UTF8.self) }

        var cuts = (0, 0, 0, 0), count = 0
        for i in credential where v[i] == 0x2F {
            count += 1
            switch count {
            case 1: cuts.0 = i
            case 2: cuts.1 = i
            case 3: cuts.2 = i
            case 4: cuts.3 = i
            default: break
            }
        }
        guard count == 4, cuts.0 > credential.lowerBound, cuts.1 - cuts.0 == 9,
            ((cuts.0 + 1)..<cuts.1).allSatisfy({ v[$0] >= 0x30 && v[$0] <= 0x39 }),
            Self.equals(v, (cuts.3 + 1)..<credential.upperBound, "aws4_request")
        else { return .failure(.malformedCredential(text(credential))) }
        let date = (cuts.0 + 1)..<cuts.1

        // SigV4 defines the list as the distinct lower-case names in byte order, as every SDK
        // writes it; one in another order or with a repeat is refused, not verified as written.
        var names = 0
        var previous: Range<Int>? = nil
        var host = false
        var start = signedHeaders.lowerBound
        while start <= signedHeaders.upperBound {
            var end = start
            while end < signedHeaders.upperBound && v[end] != 0x3B { end += 1 }
            let name = start..<end
            names += 1
            guard names <= 64, !name.isEmpty, !name.contains(where: { v[$0] >= 0x41 && v[$0] <= 0x5A }),
                previous.map({ Self.precedes(v, $0, name) }) ?? true
            else { return .failure(.malformedSignedHeaders(text(signedHeaders))) }
            if Self.equals(v, name, "host") { host = true }
            previous = name
            start = end + 1
        }
        guard host else { return .failure(.hostNotSigned) }
        guard signature.count == 64, signature.allSatisfy({ (v[$0] >= 0x30 && v[$0] <= 0x39) || (v[$0] >= 0x61 && v[$0] <= 0x66) }) else {
            return .failure(.malformedSignature)
        }
        return .success(
            SigV4Claim(
                credential: credential, accessKeyID: credential.lowerBound..<cuts.0, date: date, region: (cuts.1 + 1)..<cuts.2,
                service: (cuts.2 + 1)..<cuts.3, scope: (cuts.0 + 1)..<credential.upperBound, signedHeaders: signedHeaders,
                signature: signature))
    }

    static func equals(_ v: UnsafeRawBufferPointer, _ r: Range<Int>, _ text: StaticString) -> Bool {
        equals(v, r, UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    static func equals(_ v: UnsafeRawBufferPointer, _ r: Range<Int>, _ other: UnsafeRawBufferPointer) -> Bool {
        guard r.count == other.count else { return false }
        var k = 0
        while k < other.count {
            if v[r.lowerBound + k] != other[k] { return false }
            k += 1
        }
        return true
    }

    /// Byte order, a prefix first.
    static func precedes(_ v: UnsafeRawBufferPointer, _ a: Range<Int>, _ b: Range<Int>) -> Bool {
        SigV4Workspace.compare(v, a, b) < 0
    }
}
