/// What a SigV4-signed request claims: who signed (the credential scope), what was signed and the
/// signature, from the Authorization header or from a presigned query string.
public struct SigV4Authorization: Sendable, Equatable {
    /// `AKID/20150830/us-east-1/execute-api/aws4_request`, split.
    public struct Credential: Sendable, Equatable {
        public var accessKeyID: String
        public var date: String
        public var region: String
        public var service: String

        /// `date/region/service/aws4_request`.
        public var scope: String { "\(date)/\(region)/\(service)/aws4_request" }

        /// Parses the five-part credential; nil when it does not have that shape.
        public init?(_ text: some StringProtocol) {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 5, parts[4] == "aws4_request", !parts[0].isEmpty, parts[1].count == 8,
                parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
            else { return nil }
            accessKeyID = String(parts[0])
            date = String(parts[1])
            region = String(parts[2])
            service = String(parts[3])
        }
    }

    public var credential: Credential
    /// Lower-case header names, in the order the client listed them.
    public var signedHeaders: [String]
    /// 64 lower-case hex digits.
    public var signature: String

    /// Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`. A header that is
    /// not SigV4 at all, or lacks a part, gets API Gateway's IncompleteSignature message.
    public static func parse(header value: String) -> Result<SigV4Authorization, SigV4Failure> {
        guard value.hasPrefix(SigV4.algorithm + " ") else {
            return .failure(.incomplete(missing: ["Credential", "Signature", "SignedHeaders"], header: value))
        }
        var credential: Substring?, signed: Substring?, signature: Substring?
        for item in value.dropFirst(SigV4.algorithm.count + 1).split(separator: ",") {
            let pair = item.trimmingSpaces
            guard let eq = pair.firstIndex(of: "=") else {
                return .failure(.malformedPair(String(pair), header: value))
            }
            let key = pair[..<eq], v = pair[pair.index(after: eq)...]
            // A repeated parameter is refused: taking the first or the last would be a guess that
            // whoever reads the header next may make the other way.
            switch key {
            case "Credential":
                if credential != nil { return .failure(.repeatedParameter("Credential")) }
                credential = v
            case "SignedHeaders":
                if signed != nil { return .failure(.repeatedParameter("SignedHeaders")) }
                signed = v
            case "Signature":
                if signature != nil { return .failure(.repeatedParameter("Signature")) }
                signature = v
            default: break
            }
        }
        var missing: [String] = []
        if credential == nil { missing.append("Credential") }
        if signature == nil { missing.append("Signature") }
        if signed == nil { missing.append("SignedHeaders") }
        guard missing.isEmpty, let credential, let signed, let signature else {
            return .failure(.incomplete(missing: missing, header: value))
        }
        return make(credential: credential, signedHeaders: signed, signature: signature)
    }

    /// Parses the `X-Amz-*` parameters of a presigned URL (names and values already decoded).
    /// Nil when the query carries no `X-Amz-Signature`: not a presigned request.
    public static func parse(query: [(String, String)]) -> Result<SigV4Authorization, SigV4Failure>? {
        func one(_ name: String) -> Result<String?, SigV4Failure> {
            let values = query.filter { $0.0 == name }.map(\.1)
            if values.count > 1 { return .failure(.duplicateParameter(name)) }
            return .success(values.first)
        }
        guard case .success(let sig?) = one("X-Amz-Signature") else {
            if case .failure(let f) = one("X-Amz-Signature") { return .failure(f) }
            return nil
        }
        var found: [String: String] = [:]
        for name in ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-SignedHeaders"] {
            switch one(name) {
            case .failure(let f): return .failure(f)
            case .success(let v?): found[name] = v
            case .success(nil): return .failure(.missingQueryParameter(name))
            }
        }
        // The verifier reads these once more (time, lifetime, token) while the canonical query
        // signs every copy: one of each, or which one counts would be a guess.
        for name in ["X-Amz-Date", "X-Amz-Expires", "X-Amz-Security-Token"] {
            if case .failure(let f) = one(name) { return .failure(f) }
        }
        guard found["X-Amz-Algorithm"] == SigV4.algorithm else { return .failure(.unsupportedAlgorithm(found["X-Amz-Algorithm"] ?? "")) }
        return make(credential: found["X-Amz-Credential"]![...], signedHeaders: found["X-Amz-SignedHeaders"]![...], signature: sig[...])
    }

    private static func make(credential: Substring, signedHeaders: Substring, signature: Substring) -> Result<SigV4Authorization, SigV4Failure> {
        guard let c = Credential(credential) else { return .failure(.malformedCredential(String(credential))) }
        let names = signedHeaders.split(separator: ";", omittingEmptySubsequences: false).map { String($0) }
        // SigV4 defines the list as the distinct lower-case names in byte order, as every SDK
        // writes it; one in another order or with a repeat is refused, not verified as written.
        guard !names.isEmpty, names.count <= 64, names.allSatisfy({ !$0.isEmpty && $0 == $0.lowercased() }),
            zip(names, names.dropFirst()).allSatisfy({ $0.utf8.lexicographicallyPrecedes($1.utf8) })
        else {
            return .failure(.malformedSignedHeaders(String(signedHeaders)))
        }
        guard names.contains("host") else { return .failure(.hostNotSigned) }
        guard signature.utf8.count == 64, signature.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            return .failure(.malformedSignature)
        }
        return .success(SigV4Authorization(credential: c, signedHeaders: names, signature: String(signature)))
    }
}

/// Why a signed request is refused, with the message API Gateway gives for it.
public enum SigV4Failure: Error, Sendable, Equatable {
    case incomplete(missing: [String], header: String)
    case malformedPair(String, header: String)
    case malformedCredential(String)
    case malformedSignedHeaders(String)
    case malformedSignature
    case hostNotSigned
    case duplicateParameter(String)
    case missingQueryParameter(String)
    case unsupportedAlgorithm(String)
    case repeatedParameter(String)
    case headerAndQuerySignature

    /// The client-facing message (API Gateway's wording where it has one).
    public var message: String {
        switch self {
        case .incomplete(let missing, let header):
            var m = missing.map { "Authorization header requires '\($0)' parameter." }
            m.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
            return m.joined(separator: " ") + " Authorization=" + header
        case .malformedPair(let pair, let header):
            return "'\(pair)' not a valid key=value pair (missing equal-sign) in Authorization header: '\(header)'."
        case .malformedCredential(let c):
            return "Credential should have the form ACCESS_KEY/DATE/REGION/SERVICE/aws4_request, not '\(c)'."
        case .malformedSignedHeaders(let s):
            return "SignedHeaders should be lower-case header names separated by ';', not '\(s)'."
        case .malformedSignature:
            return "Signature should be 64 lower-case hexadecimal digits."
        case .hostNotSigned:
            return "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        case .duplicateParameter(let p):
            return "Query parameter \(p) was given more than once."
        case .missingQueryParameter(let p):
            return "AWS query-string parameters must include '\(p)'. Re-examine the query-string parameters."
        case .unsupportedAlgorithm(let a):
            return "X-Amz-Algorithm only supports 'AWS4-HMAC-SHA256', not '\(a)'."
        case .repeatedParameter(let p):
            return "Authorization header requires exactly one '\(p)' parameter."
        case .headerAndQuerySignature:
            // S3's wording for the same refusal.
            return "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"
        }
    }
}
