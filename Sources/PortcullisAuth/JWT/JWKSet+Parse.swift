import PortcullisCore
public import PortcullisTLS

/// Why a key set document was refused as a whole.
public struct JWKSError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension JWKSet {
    /// The largest key set document accepted (API Gateway's limit is 150 000 bytes).
    public static let maxDocumentBytes = 256 * 1024

    /// Parses a JWK Set (RFC 7517 §5). Keys that cannot verify signatures (encryption keys,
    /// symmetric keys, unknown types, RSA under 2048 bits, EC points off the curve) are skipped
    /// and listed, not fatal; a document with no usable key is an error.
    public static func parse(_ bytes: [UInt8]) throws(JWKSError) -> JWKSet {
        guard bytes.count <= maxDocumentBytes else { throw JWKSError("key set larger than \(maxDocumentBytes) bytes") }
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw JWKSError("key set is not JSON: \(error)")
        }
        guard let list = json["keys"]?.arrayValue else { throw JWKSError("key set has no \"keys\" list") }
        var keys: [VerificationKey] = []
        var skipped: [String] = []
        for (i, entry) in list.enumerated() {
            switch key(entry) {
            case .success(let k): keys.append(k)
            case .failure(let e): skipped.append("key \(i)\(entry["kid"]?.stringValue.map { " (\($0))" } ?? ""): \(e.message)")
            }
        }
        guard !keys.isEmpty else {
            throw JWKSError("key set has no usable signature key" + (skipped.isEmpty ? "" : ": " + skipped.joined(separator: "; ")))
        }
        return JWKSet(keys: keys, skipped: skipped)
    }

    static func key(_ jwk: JSONValue) -> Result<VerificationKey, JWKSError> {
        guard case .object(let m) = jwk else { return .failure(JWKSError("not a JSON object")) }
        func bytes(_ name: String) -> [UInt8]? { m[name]?.stringValue.flatMap { Base64URL.decode($0) } }
        if let use = m["use"] {
            guard use.stringValue == "sig" else { return .failure(JWKSError("use is not sig")) }
        }
        if let ops = m["key_ops"] {
            guard let list = ops.arrayValue, list.contains(.string("verify")) else {
                return .failure(JWKSError("key_ops does not include verify"))
            }
        }
        var alg: JWTAlgorithm? = nil
        if let a = m["alg"] {
            guard let name = a.stringValue, let parsed = JWTAlgorithm(rawValue: name) else {
                return .failure(JWKSError("unsupported alg \(m["alg"]?.stringValue ?? "?")"))
            }
            alg = parsed
        }
        let kid = m["kid"]?.stringValue
        let kty = m["kty"]?.stringValue ?? ""
        if let alg, alg.keyType != kty { return .failure(JWKSError("alg \(alg.rawValue) does not fit kty \(kty)")) }
        do {
            let key: PublicKey
            switch kty {
            case "RSA":
                guard let n = bytes("n"), let e = bytes("e") else { return .failure(JWKSError("RSA key without n or e")) }
                key = try PublicKey.rsa(modulus: n, exponent: e)
            case "EC":
                guard let crv = m["crv"]?.stringValue, let curve = ECCurve(jwkName: crv) else {
                    return .failure(JWKSError("unsupported curve \(m["crv"]?.stringValue ?? "?")"))
                }
                guard let x = bytes("x"), let y = bytes("y") else { return .failure(JWKSError("EC key without x or y")) }
                key = try PublicKey.ec(curve: curve, x: x, y: y)
            case "OKP":
                guard m["crv"]?.stringValue == "Ed25519" else {
                    return .failure(JWKSError("unsupported OKP curve \(m["crv"]?.stringValue ?? "?")"))
                }
                guard let x = bytes("x") else { return .failure(JWKSError("OKP key without x")) }
                key = try PublicKey.ed25519(raw: x)
            case "oct":
                return .failure(JWKSError("symmetric keys are not taken from key sets; configure secret or secret_file"))
            default:
                return .failure(JWKSError("unsupported kty \(kty)"))
            }
            return .success(VerificationKey(keyID: kid, algorithm: alg, material: .publicKey(key)))
        } catch {
            return .failure(JWKSError("\(error)"))
        }
    }
}
