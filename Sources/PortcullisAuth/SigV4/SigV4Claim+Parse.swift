/// Reading a claim from the Authorization header or the presigned query, as bytes.
extension SigV4Claim {
    /// `SigV4Authorization.parse(header:)` over an ASCII header value. The three parts are copied
    /// to the end of `values`, where the claim's ranges point.
    static func parse(header a: UnsafeRawBufferPointer, into values: inout ByteScratch) -> Result<SigV4Claim, SigV4Failure> {
        func header() -> String { String(decoding: a, as: UTF8.self) }
        let prefix: StaticString = "AWS4-HMAC-SHA256 "
        guard equals(a, 0..<min(a.count, prefix.utf8CodeUnitCount), prefix) else {
            return .failure(.incomplete(missing: ["Credential", "Signature", "SignedHeaders"], header: header()))
        }
        var credential: Range<Int>?, signed: Range<Int>?, signature: Range<Int>?
        var start = prefix.utf8CodeUnitCount
        while start < a.count {
            var end = start
            while end < a.count && a[end] != 0x2C { end += 1 }
            defer { start = end + 1 }
            if end == start { continue }
            var lo = start, hi = end
            while lo < hi && (a[lo] == 0x20 || a[lo] == 0x09) { lo += 1 }
            while hi > lo && (a[hi - 1] == 0x20 || a[hi - 1] == 0x09) { hi -= 1 }
            var eq = lo
            while eq < hi && a[eq] != 0x3D { eq += 1 }
            guard eq < hi else {
                return .failure(.malformedPair(String(decoding: UnsafeRawBufferPointer(rebasing: a[lo..<hi]), as: UTF8.self), header: header()))
            }
            let key = lo..<eq, value = (eq + 1)..<hi
            // A repeated parameter is refused: taking the first or the last would be a guess that
            // whoever reads the header next may make the other way.
            if equals(a, key, "Credential") {
                if credential != nil { return .failure(.repeatedParameter("Credential")) }
                credential = value
            } else if equals(a, key, "SignedHeaders") {
                if signed != nil { return .failure(.repeatedParameter("SignedHeaders")) }
                signed = value
            } else if equals(a, key, "Signature") {
                if signature != nil { return .failure(.repeatedParameter("Signature")) }
                signature = value
            }
        }
        guard let credential, let signed, let signature else {
            var missing: [String] = []
            if credential == nil { missing.append("Credential") }
            if signature == nil { missing.append("Signature") }
            if signed == nil { missing.append("SignedHeaders") }
            return .failure(.incomplete(missing: missing, header: header()))
        }
        func copy(_ r: Range<Int>) -> Range<Int> {
            let from = values.count
            values.append(UnsafeRawBufferPointer(rebasing: a[r]))
            return from..<values.count
        }
        let c = copy(credential), s = copy(signed), g = copy(signature)
        return values.withUnsafeBytes { make($0, credential: c, signedHeaders: s, signature: g) }
    }

    /// The presigned parameters the verifier reads, in `SigV4Authorization.parse(query:)`'s order.
    enum Parameter {
        case signature, algorithm, credential, signedHeaders, date, expires, securityToken

        var name: StaticString {
            switch self {
            case .signature: return "X-Amz-Signature"
            case .algorithm: return "X-Amz-Algorithm"
            case .credential: return "X-Amz-Credential"
            case .signedHeaders: return "X-Amz-SignedHeaders"
            case .date: return "X-Amz-Date"
            case .expires: return "X-Amz-Expires"
            case .securityToken: return "X-Amz-Security-Token"
            }
        }

        var text: String { name.description }

        /// Which of them a decoded name is, if any (by length first).
        init?(_ v: UnsafeRawBufferPointer) {
            let candidates: (Parameter, Parameter)
            switch v.count {
            case 10: candidates = (.date, .date)
            case 13: candidates = (.expires, .expires)
            case 15: candidates = (.signature, .algorithm)
            case 16: candidates = (.credential, .credential)
            case 19: candidates = (.signedHeaders, .signedHeaders)
            case 20: candidates = (.securityToken, .securityToken)
            default: return nil
            }
            if SigV4Claim.equals(v, 0..<v.count, candidates.0.name) {
                self = candidates.0
            } else if SigV4Claim.equals(v, 0..<v.count, candidates.1.name) {
                self = candidates.1
            } else {
                return nil
            }
        }
    }

    enum PresignedParse {
        /// No X-Amz-Signature: not a presigned request.
        case absent
        case failure(SigV4Failure)
        /// The credential or the signed-header list is not ASCII: the String path must judge it.
        case needsReference
        case presigned(claim: SigV4Claim, date: Range<Int>?, expires: Range<Int>?, securityToken: Range<Int>?)
    }

    /// How often a presigned parameter came, and where its first value is (decoded).
    struct Seen {
        var count = 0
        var value: Range<Int> = 0..<0
    }

    /// The wanted parameters of a query as they were seen.
    struct PresignedFields {
        var signature = Seen(), algorithm = Seen(), credential = Seen(), signedHeaders = Seen()
        var date = Seen(), expires = Seen(), securityToken = Seen()

        subscript(_ p: Parameter) -> Seen {
            get {
                switch p {
                case .signature: return signature
                case .algorithm: return algorithm
                case .credential: return credential
                case .signedHeaders: return signedHeaders
                case .date: return date
                case .expires: return expires
                case .securityToken: return securityToken
                }
            }
            set {
                switch p {
                case .signature: signature = newValue
                case .algorithm: algorithm = newValue
                case .credential: credential = newValue
                case .signedHeaders: signedHeaders = newValue
                case .date: date = newValue
                case .expires: expires = newValue
                case .securityToken: securityToken = newValue
                }
            }
        }
    }

    /// Walks the query once: each parameter's name read (decoded into `name` when it has
    /// escapes), the wanted ones' first values decoded to the end of `values`. Then
    /// `SigV4Authorization.parse(query:)`'s checks, in its order.
    static func parse(query q: UnsafeRawBufferPointer, values: inout ByteScratch, name: inout ByteScratch) -> PresignedParse {
        var f = PresignedFields()
        forEachParameter(q, name: &name) { p, rawValue in
            f[p].count += 1
            guard f[p].count == 1 else { return }
            let from = values.count
            SigV4Encoding.appendDecoded(rawValue, to: &values)
            f[p].value = from..<values.count
        }
        if f.signature.count == 0 { return .absent }
        if f.signature.count > 1 { return .failure(.duplicateParameter(Parameter.signature.text)) }
        func exactlyOne(_ p: Parameter) -> SigV4Failure? {
            f[p].count > 1 ? .duplicateParameter(p.text) : f[p].count == 0 ? .missingQueryParameter(p.text) : nil
        }
        // The verifier reads these once more (time, lifetime, token) while the canonical query
        // signs every copy: one of each, or which one counts would be a guess.
        func atMostOne(_ p: Parameter) -> SigV4Failure? { f[p].count > 1 ? .duplicateParameter(p.text) : nil }
        if let failure = exactlyOne(.algorithm) ?? exactlyOne(.credential) ?? exactlyOne(.signedHeaders) ?? atMostOne(.date)
            ?? atMostOne(.expires) ?? atMostOne(.securityToken)
        {
            return .failure(failure)
        }
        return values.withUnsafeBytes { v -> PresignedParse in
            guard equals(v, f.algorithm.value, "AWS4-HMAC-SHA256") else {
                return .failure(.unsupportedAlgorithm(String(decoding: UnsafeRawBufferPointer(rebasing: v[f.algorithm.value]), as: UTF8.self)))
            }
            // Bytes and Characters only agree on ASCII.
            guard !f.credential.value.contains(where: { v[$0] >= 0x80 }), !f.signedHeaders.value.contains(where: { v[$0] >= 0x80 }) else {
                return .needsReference
            }
            switch make(v, credential: f.credential.value, signedHeaders: f.signedHeaders.value, signature: f.signature.value) {
            case .failure(let failure): return .failure(failure)
            case .success(let claim):
                return .presigned(
                    claim: claim, date: f.date.count == 1 ? f.date.value : nil, expires: f.expires.count == 1 ? f.expires.value : nil,
                    securityToken: f.securityToken.count == 1 ? f.securityToken.value : nil)
            }
        }
    }

    /// Whether a decoded parameter name of the query is X-Amz-Signature (a presigned signature).
    static func hasSignatureParameter(_ q: UnsafeRawBufferPointer, name: inout ByteScratch) -> Bool {
        var found = false
        forEachParameter(q, name: &name) { p, _ in if p == .signature { found = true } }
        return found
    }

    /// Calls `body` for each `name=value` of the query (split on `&`, empty ones skipped, the
    /// value after the first `=`) whose decoded name is a wanted parameter, with its raw value.
    static func forEachParameter(
        _ q: UnsafeRawBufferPointer, name: inout ByteScratch, _ body: (Parameter, UnsafeRawBufferPointer) -> Void
    ) {
        var start = 0
        let n = q.count
        while start < n {
            var end = start
            while end < n && q[end] != 0x26 { end += 1 }
            defer { start = end + 1 }
            if end == start { continue }
            var eq = start
            while eq < end && q[eq] != 0x3D { eq += 1 }
            // The shortest wanted name has 10 bytes, and an escape makes three into one.
            guard eq - start >= 10 else { continue }
            let raw = UnsafeRawBufferPointer(rebasing: q[start..<eq])
            let p: Parameter?
            if raw.contains(where: { $0 == 0x25 || $0 == 0x2B }) {
                name.removeAll()
                SigV4Encoding.appendDecoded(raw, to: &name)
                p = name.withUnsafeBytes { Parameter($0) }
            } else {
                // Nothing to decode: the name is its bytes.
                p = Parameter(raw)
            }
            if let p { body(p, eq < end ? UnsafeRawBufferPointer(rebasing: q[(eq + 1)..<end]) : UnsafeRawBufferPointer(rebasing: q[end..<end])) }
        }
    }
}
