public import PortcullisTLS

/// The JWS algorithms Portcullis verifies (RFC 7518 §3, RFC 8037). `none` is not among them
/// and cannot be configured: an unsigned token never passes.
public enum JWTAlgorithm: String, Sendable, CaseIterable, Hashable {
    case HS256, HS384, HS512
    case RS256, RS384, RS512
    case PS256, PS384, PS512
    case ES256, ES384, ES512
    case EdDSA

    public var isHMAC: Bool { hmacDigest != nil }

    /// The digest of an HMAC algorithm; nil for signature algorithms.
    public var hmacDigest: DigestAlgorithm? {
        switch self {
        case .HS256: return .sha256
        case .HS384: return .sha384
        case .HS512: return .sha512
        default: return nil
        }
    }

    /// The public-key scheme; nil for HMAC algorithms.
    public var signature: SignatureAlgorithm? {
        switch self {
        case .HS256, .HS384, .HS512: return nil
        case .RS256: return .rsaPKCS1v15(.sha256)
        case .RS384: return .rsaPKCS1v15(.sha384)
        case .RS512: return .rsaPKCS1v15(.sha512)
        case .PS256: return .rsaPSS(.sha256)
        case .PS384: return .rsaPSS(.sha384)
        case .PS512: return .rsaPSS(.sha512)
        case .ES256: return .ecdsa(.sha256)
        case .ES384: return .ecdsa(.sha384)
        case .ES512: return .ecdsa(.sha512)
        case .EdDSA: return .ed25519
        }
    }

    /// The JWK `kty` a key must have to verify this algorithm.
    public var keyType: String {
        switch self {
        case .HS256, .HS384, .HS512: return "oct"
        case .RS256, .RS384, .RS512, .PS256, .PS384, .PS512: return "RSA"
        case .ES256, .ES384, .ES512: return "EC"
        case .EdDSA: return "OKP"
        }
    }

    /// Every algorithm that uses a public key (the default allow-list for key sets and PEM keys).
    public static let asymmetric: [JWTAlgorithm] = allCases.filter { !$0.isHMAC }
}
