public import PortcullisCore

/// Why a token was not accepted. Each case carries the precise reason for the access log
/// ("Token expired", "Invalid audience"); `refusal` turns it into the client's answer.
public enum JWTFailure: Error, Sendable, Equatable {
    /// No token in the identity source: 401 without any verification work.
    case missing(String)
    /// Not a well-formed compact JWS (base64url, JSON, size, crit).
    case malformed(String)
    /// `none`, an algorithm outside the allow-list, or HMAC without a configured secret.
    case disallowedAlgorithm(String)
    /// No key in the key set fits the token's kid and algorithm.
    case unknownKey(String)
    case badSignature(String)
    case expired(String)
    case notYetValid(String)
    /// iss, aud/client_id, token_use, required claims.
    case invalidClaim(String)
    /// The route's scopes are not in the token: 403.
    case insufficientScope(String)
    /// A `claims:` rule did not match: 403.
    case forbidden(String)
    /// Keys are not available (never loaded, issuer unreachable): 500, not the caller's fault.
    case keysUnavailable(String)

    public var reason: String {
        switch self {
        case .missing(let r), .malformed(let r), .disallowedAlgorithm(let r), .unknownKey(let r), .badSignature(let r),
            .expired(let r), .notYetValid(let r), .invalidClaim(let r), .insufficientScope(let r), .forbidden(let r),
            .keysUnavailable(let r):
            return r
        }
    }

    /// The gateway response: the body is always API Gateway's default for the type; the reason
    /// goes to `Refusal.reason` only. The RFC 6750 challenge names the error class, and for an
    /// invalid token a short description of the check that failed (as API Gateway's HTTP APIs do).
    public var refusal: Refusal {
        switch self {
        case .missing(let r):
            return Refusal(.UNAUTHORIZED, reason: r, headers: [("WWW-Authenticate", "Bearer")])
        case .insufficientScope(let r):
            return Refusal(
                .FORBIDDEN, reason: r,
                headers: [("WWW-Authenticate", "Bearer error=\"insufficient_scope\", error_description=\"\(Self.quoted(r))\"")])
        case .forbidden(let r):
            return Refusal(.FORBIDDEN, reason: r)
        case .keysUnavailable(let r):
            return Refusal(.AUTHORIZER_FAILURE, reason: r)
        case .malformed(let r), .disallowedAlgorithm(let r), .unknownKey(let r), .badSignature(let r), .expired(let r),
            .notYetValid(let r), .invalidClaim(let r):
            return Refusal(
                .UNAUTHORIZED, reason: r,
                headers: [("WWW-Authenticate", "Bearer error=\"invalid_token\", error_description=\"\(Self.quoted(r))\"")])
        }
    }

    /// A quoted-string body (RFC 9110): printable ASCII without `"` and `\`, short.
    static func quoted(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars.prefix(120) where u.value >= 0x20 && u.value < 0x7F && u != "\"" && u != "\\" {
            out.unicodeScalars.append(u)
        }
        return out
    }
}
