public import PortcullisCore

/// A JWS in compact serialization (`header.payload.signature`), split and decoded but not yet
/// verified. Parsing never looks at keys; `JWTVerifier` decides whether to trust it.
public struct CompactJWS: Sendable {
    /// The largest token accepted; longer ones are refused before any decoding work.
    /// (Cognito tokens with many groups reach ~4 KiB; API Gateway limits headers to 10 KiB.)
    public static let maxTokenBytes = 16 * 1024

    public let header: JOSEHeader
    /// The claim set (a JSON object); `.null` when parsed with `payloadIsJSON: false`.
    public let claims: JSONValue
    public let payload: [UInt8]
    /// `BASE64URL(header) '.' BASE64URL(payload)`: the bytes the signature covers.
    public let signingInput: [UInt8]
    public let signature: [UInt8]

    /// Splits and decodes `token`. The failure names what is wrong, for the access log.
    /// `payloadIsJSON: false` is for JWS that are not JWTs (the RFC 7520 examples sign text).
    public static func parse(_ token: String, payloadIsJSON: Bool = true) -> Result<CompactJWS, JWTFailure> {
        var token = token
        return token.withUTF8 { parse(UnsafeRawBufferPointer($0), payloadIsJSON: payloadIsJSON) }
    }

    public static func parse(_ t: UnsafeRawBufferPointer, payloadIsJSON: Bool = true) -> Result<CompactJWS, JWTFailure> {
        guard t.count <= maxTokenBytes else { return .failure(.malformed("Token too large (\(t.count) bytes)")) }
        // The dots, in one pass: a third one means JWE (five parts), which is not accepted.
        var dots = (-1, -1)
        for k in 0..<t.count where t[k] == UInt8(ascii: ".") {
            if dots.0 < 0 {
                dots.0 = k
            } else if dots.1 < 0 {
                dots.1 = k
            } else {
                return .failure(.malformed("Token has more than three parts (JWE is not accepted)"))
            }
        }
        guard dots.1 >= 0 else { return .failure(.malformed("Token is not a compact JWS")) }
        let (dot1, dot2) = dots
        guard dot1 > 0, dot2 > dot1 + 1 else { return .failure(.malformed("Token has an empty header or payload")) }
        guard let headerBytes = Base64URL.decode(UnsafeRawBufferPointer(rebasing: t[0..<dot1])) else {
            return .failure(.malformed("Token header is not base64url"))
        }
        guard let payloadBytes = Base64URL.decode(UnsafeRawBufferPointer(rebasing: t[(dot1 + 1)..<dot2])) else {
            return .failure(.malformed("Token payload is not base64url"))
        }
        // The header goes first: `alg: none` with its empty signature is named as such.
        let headerJSON: JSONValue
        do {
            headerJSON = try JSONValue.parse(headerBytes, maxDepth: 8)
        } catch {
            return .failure(.malformed("Token header is not JSON (\(error))"))
        }
        let header: JOSEHeader
        switch JOSEHeader.decode(headerJSON) {
        case .success(let h): header = h
        case .failure(let f): return .failure(f)
        }
        guard dot2 + 1 < t.count else { return .failure(.badSignature("Token has no signature")) }
        guard let signature = Base64URL.decode(UnsafeRawBufferPointer(rebasing: t[(dot2 + 1)...])) else {
            return .failure(.malformed("Token signature is not base64url"))
        }
        var claims = JSONValue.null
        if payloadIsJSON {
            do {
                claims = try JSONValue.parse(payloadBytes, maxDepth: 16)
            } catch {
                return .failure(.malformed("Token payload is not JSON (\(error))"))
            }
            guard case .object = claims else { return .failure(.malformed("Token payload is not a JSON object")) }
        }
        return .success(CompactJWS(
            header: header, claims: claims, payload: payloadBytes, signingInput: Array(t[0..<dot2]), signature: signature))
    }
}
