public import PortcullisCore

/// The registered-claim checks of one authorizer (RFC 7519 §4.1, Cognito's verification steps):
/// time window, issuer, audience, token_use. Pure: takes the time as an argument.
public struct ClaimPolicy: Sendable {
    public var issuer: String?
    public var audiences: [String]
    public var tokenUse: [String]
    public var requireExp: Bool
    /// Seconds of clock skew tolerated for exp, nbf and iat.
    public var leeway: Double

    public init(issuer: String?, audiences: [String], tokenUse: [String], requireExp: Bool, leeway: Double) {
        self.issuer = issuer
        self.audiences = audiences
        self.tokenUse = tokenUse
        self.requireExp = requireExp
        self.leeway = leeway
    }

    /// nil when the claims pass; otherwise the first failed check.
    public func check(_ claims: JSONValue, now: Double) -> JWTFailure? {
        switch claims["exp"] {
        case nil:
            if requireExp { return .invalidClaim("Token has no exp") }
        case .number(let exp)?:
            if now >= exp + leeway { return .expired("Token expired") }
        default: return .invalidClaim("Token exp is not a number")
        }
        switch claims["nbf"] {
        case nil: break
        case .number(let nbf)?:
            if now + leeway < nbf { return .notYetValid("Token not yet valid (nbf)") }
        default: return .invalidClaim("Token nbf is not a number")
        }
        switch claims["iat"] {
        case nil: break
        case .number(let iat)?:
            if now + leeway < iat { return .notYetValid("Token issued in the future (iat)") }
        default: return .invalidClaim("Token iat is not a number")
        }
        if let issuer {
            guard claims["iss"]?.stringValue == issuer else { return .invalidClaim("Invalid issuer") }
        }
        if !audiences.isEmpty {
            // As API Gateway's JWT authorizer: aud when present, else client_id (Cognito access tokens).
            switch claims["aud"] {
            case .string(let a)?:
                if !audiences.contains(a) { return .invalidClaim("Invalid audience") }
            case .array(let list)?:
                if !list.contains(where: { $0.stringValue.map(audiences.contains) ?? false }) {
                    return .invalidClaim("Invalid audience")
                }
            case nil:
                guard let clientID = claims["client_id"]?.stringValue else { return .invalidClaim("Token has no aud or client_id") }
                if !audiences.contains(clientID) { return .invalidClaim("Invalid client_id") }
            default: return .invalidClaim("Invalid audience")
            }
        }
        if !tokenUse.isEmpty {
            guard let use = claims["token_use"]?.stringValue, tokenUse.contains(use) else {
                return .invalidClaim("Invalid token_use")
            }
        }
        return nil
    }

    /// The instant after which the token no longer passes `check` (exp + leeway), if it has one.
    public func expiry(of claims: JSONValue) -> Double? {
        claims["exp"]?.numberValue.map { $0 + leeway }
    }
}
