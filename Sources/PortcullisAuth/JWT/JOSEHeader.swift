import PortcullisCore

/// The protected header of a JWS, as far as verification is concerned.
public struct JOSEHeader: Sendable {
    public let algorithm: JWTAlgorithm
    public let keyID: String?
    public let type: String?

    /// Header parameters this implementation understands when they appear in `crit`
    /// (RFC 7515 §4.1.11): none. Any `crit` entry therefore makes the token unacceptable.
    static let understoodCritical: Set<String> = []

    static func decode(_ json: JSONValue) -> Result<JOSEHeader, JWTFailure> {
        guard case .object(let h) = json else { return .failure(.malformed("Token header is not a JSON object")) }
        guard let algName = h["alg"]?.stringValue else { return .failure(.malformed("Token header has no alg")) }
        if algName.lowercased() == "none" { return .failure(.disallowedAlgorithm("Unsigned token (alg none)")) }
        guard let alg = JWTAlgorithm(rawValue: algName) else {
            return .failure(.disallowedAlgorithm("Unsupported algorithm \(algName)"))
        }
        if let crit = h["crit"] {
            // RFC 7515: crit must be a non-empty list of names, each present in the header and understood.
            guard case .array(let names) = crit, !names.isEmpty else { return .failure(.malformed("Invalid crit header")) }
            for n in names {
                guard let name = n.stringValue else { return .failure(.malformed("Invalid crit header")) }
                if !understoodCritical.contains(name) {
                    return .failure(.malformed("Unsupported critical header parameter \(name)"))
                }
            }
        }
        // `b64: false` (RFC 7797) changes what is signed; refuse rather than misinterpret.
        if h["b64"] != nil { return .failure(.malformed("Unsupported header parameter b64")) }
        var kid: String? = nil
        if let k = h["kid"] {
            guard let s = k.stringValue else { return .failure(.malformed("Token header kid is not a string")) }
            kid = s
        }
        return .success(JOSEHeader(algorithm: alg, keyID: kid, type: h["typ"]?.stringValue))
    }
}
