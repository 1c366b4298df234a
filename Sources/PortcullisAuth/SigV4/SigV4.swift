import PortcullisCore
public import PortcullisTLS

/// SigV4 (`AWS4-HMAC-SHA256`) as a verifier recomputes it for a service other than S3: the
/// canonical request, the string to sign, the signing key and the signature. Pure: bytes and
/// strings in, strings out; hashing and HMAC through PortcullisTLS.
public enum SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"
    /// SHA-256 of an empty payload.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The canonical URI: the wire path (as received, already percent-encoded by the client)
    /// normalised, then URI-encoded again keeping `/` (non-S3 services encode twice).
    public static func canonicalURI(wirePath: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        SigV4Encoding.encode(SigV4Encoding.normalizePath(wirePath), keepSlash: true, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical query: each `name=value` decoded (`+` as a space) and encoded again, sorted
    /// by name then value; a name without `=` has an empty value. `omitting` names a parameter to
    /// leave out (`X-Amz-Signature` of a presigned request).
    public static func canonicalQuery(wireQuery: some Collection<UInt8>, omitting: String? = nil) -> String {
        var pairs: [([UInt8], [UInt8])] = []
        let omit = omitting.map { Array($0.utf8) }
        for part in Array(wireQuery).split(separator: 0x26, omittingEmptySubsequences: true) {
            let eq = part.firstIndex(of: 0x3D)
            let rawName = eq.map { part[part.startIndex..<$0] } ?? part[...]
            let rawValue = eq.map { part[($0 + 1)...] } ?? []
            let name = SigV4Encoding.decode(rawName, plusAsSpace: true)
            if let omit, name == omit { continue }
            var n: [UInt8] = [], v: [UInt8] = []
            SigV4Encoding.encode(name, keepSlash: false, into: &n)
            SigV4Encoding.encode(SigV4Encoding.decode(rawValue, plusAsSpace: true), keepSlash: false, into: &v)
            pairs.append((n, v))
        }
        pairs.sort { a, b in a.0 == b.0 ? a.1.lexicographicallyPrecedes(b.1) : a.0.lexicographicallyPrecedes(b.0) }
        var out: [UInt8] = []
        for (i, (n, v)) in pairs.enumerated() {
            if i > 0 { out.append(0x26) }
            out += n
            out.append(0x3D)
            out += v
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A header value as signed: trimmed, inner runs of spaces and tabs (and folded lines)
    /// collapsed to one space.
    public static func canonicalHeaderValue(_ value: some StringProtocol) -> String {
        var out: [UInt8] = []
        var pendingSpace = false
        for c in value.utf8 {
            if c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace {
                out.append(0x20)
                pendingSpace = false
            }
            out.append(c)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical request. `headers` are the request's headers in received order (names in
    /// any case); only those named in `signedHeaders` (lower-case, in the client's order) are
    /// used, repeated ones joined with `,`. Nil when a signed header is absent from the request.
    public static func canonicalRequest(
        method: String, wirePath: some Collection<UInt8>, wireQuery: some Collection<UInt8>, headers: [(String, String)],
        signedHeaders: [String], payloadHash: String, omittingQuery: String? = nil
    ) -> String? {
        var lines = method + "\n" + canonicalURI(wirePath: wirePath) + "\n"
        lines += canonicalQuery(wireQuery: wireQuery, omitting: omittingQuery) + "\n"
        for name in signedHeaders {
            var values: [String] = []
            for (n, v) in headers where n.lowercased() == name { values.append(canonicalHeaderValue(v)) }
            if values.isEmpty { return nil }
            lines += name + ":" + values.joined(separator: ",") + "\n"
        }
        lines += "\n" + signedHeaders.joined(separator: ";") + "\n" + payloadHash
        return lines
    }

    /// `AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex SHA-256 of the canonical request>`.
    public static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        algorithm + "\n" + amzDate + "\n" + scope + "\n" + hexSHA256(Array(canonicalRequest.utf8))
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
    public static func signingKey(secret: String, date: String, region: String, service: String) -> HMACKey {
        var key = Array(("AWS4" + secret).utf8)
        for part in [date, region, service, "aws4_request"] {
            key = HMACKey(algorithm: .sha256, key: key).authenticationCode(for: Array(part.utf8))
        }
        return HMACKey(algorithm: .sha256, key: key)
    }

    /// The signature of `stringToSign` as lower-case hex.
    public static func signature(key: HMACKey, stringToSign: String) -> String {
        Hex.lowercase(key.authenticationCode(for: Array(stringToSign.utf8)))
    }

    public static func hexSHA256(_ bytes: some Collection<UInt8>) -> String {
        Hex.lowercase(Digest.hash(.sha256, bytes))
    }
}
