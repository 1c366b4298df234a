/// Signs a request the way an AWS SDK does for `execute-api` (for `portcullis sign` and tests):
/// the same canonical rules the verifier applies, from the signer's side.
public struct SigV4Signer: Sendable {
    public var accessKeyID: String
    public var secret: String
    public var sessionToken: String?
    public var region: String
    public var service: String

    public init(accessKeyID: String, secret: String, sessionToken: String? = nil, region: String, service: String = SigV4Verifier.service) {
        self.accessKeyID = accessKeyID
        self.secret = secret
        self.sessionToken = sessionToken
        self.region = region
        self.service = service
    }

    /// A request to sign: `target` is the path and query as they go on the wire.
    public struct Request: Sendable {
        public var method: String
        public var host: String
        public var target: String
        public var headers: [(String, String)]
        public var body: [UInt8]

        public init(method: String, host: String, target: String, headers: [(String, String)] = [], body: [UInt8] = []) {
            self.method = method
            self.host = host
            self.target = target
            self.headers = headers
            self.body = body
        }

        var path: Substring { target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0] }
        var query: Substring {
            let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            return parts.count > 1 ? parts[1] : ""
        }
    }

    /// The headers to add (X-Amz-Date, X-Amz-Security-Token, Authorization). Every header of the
    /// request is signed, with `host` and `x-amz-date`; `time` is seconds since 1970.
    public func headers(for r: Request, time: Int64) -> [(String, String)] {
        let amzDate = r.headers.first { $0.0.lowercased() == "x-amz-date" }?.1 ?? SigV4Time.format(time)
        var all = r.headers
        if !all.contains(where: { $0.0.lowercased() == "host" }) { all.insert(("Host", r.host), at: 0) }
        var added: [(String, String)] = []
        if !all.contains(where: { $0.0.lowercased() == "x-amz-date" }) { added.append(("X-Amz-Date", amzDate)) }
        if let sessionToken { added.append(("X-Amz-Security-Token", sessionToken)) }
        all += added
        let signed = Array(Set(all.map { $0.0.lowercased() })).sorted()
        let date = String(amzDate.prefix(8))
        let canonical = SigV4.canonicalRequest(
            method: r.method, wirePath: Array(r.path.utf8), wireQuery: Array(r.query.utf8), headers: all, signedHeaders: signed,
            payloadHash: SigV4.hexSHA256(r.body))!
        let scope = "\(date)/\(region)/\(service)/aws4_request"
        let sts = SigV4.stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonical)
        let signature = SigV4.signature(key: SigV4.signingKey(secret: secret, date: date, region: region, service: service), stringToSign: sts)
        let authorization = "\(SigV4.algorithm) Credential=\(accessKeyID)/\(scope), SignedHeaders=\(signed.joined(separator: ";")), Signature=\(signature)"
        return added + [("Authorization", authorization)]
    }

    /// The target with the presigned X-Amz-* parameters added (only `host` signed), valid for
    /// `expires` seconds from `time`.
    public func presignedTarget(for r: Request, time: Int64, expires: Int) -> String {
        let amzDate = SigV4Time.format(time)
        let date = String(amzDate.prefix(8))
        let scope = "\(date)/\(region)/\(service)/aws4_request"
        func enc(_ s: String) -> String {
            var out: [UInt8] = []
            SigV4Encoding.encode(Array(s.utf8), keepSlash: false, into: &out)
            return String(decoding: out, as: UTF8.self)
        }
        var params = [
            ("X-Amz-Algorithm", SigV4.algorithm), ("X-Amz-Credential", "\(accessKeyID)/\(scope)"), ("X-Amz-Date", amzDate),
            ("X-Amz-Expires", String(expires)), ("X-Amz-SignedHeaders", "host"),
        ]
        if let sessionToken { params.append(("X-Amz-Security-Token", sessionToken)) }
        let added = params.map { enc($0.0) + "=" + enc($0.1) }.joined(separator: "&")
        let query = r.query.isEmpty ? added : r.query + "&" + added
        let canonical = SigV4.canonicalRequest(
            method: r.method, wirePath: Array(r.path.utf8), wireQuery: Array(query.utf8), headers: [("host", r.host)], signedHeaders: ["host"],
            payloadHash: SigV4.hexSHA256(r.body))!
        let sts = SigV4.stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonical)
        let signature = SigV4.signature(key: SigV4.signingKey(secret: secret, date: date, region: region, service: service), stringToSign: sts)
        return String(r.path) + "?" + query + "&X-Amz-Signature=" + signature
    }
}
