internal import COpenSSL

/// A signature scheme, as JOSE names them: RS*, PS*, ES*, EdDSA (Ed25519).
public enum SignatureAlgorithm: Sendable, Hashable {
    /// RSASSA-PKCS1-v1_5 (RS256/384/512).
    case rsaPKCS1v15(DigestAlgorithm)
    /// RSASSA-PSS with MGF1 of the same digest and a salt as long as the digest (PS256/384/512).
    case rsaPSS(DigestAlgorithm)
    /// ECDSA; signatures are JOSE's fixed-length raw `r || s` (ES256/384/512).
    case ecdsa(DigestAlgorithm)
    /// Pure Ed25519 (RFC 8032), no pre-hash.
    case ed25519
}

/// The NIST prime curves JOSE uses for ECDSA.
public enum ECCurve: Sendable, Hashable, CaseIterable {
    case p256
    case p384
    case p521

    /// Bytes in one field element: the size of x, y, r and s on the wire.
    public var coordinateSize: Int {
        switch self {
        case .p256: return 32
        case .p384: return 48
        case .p521: return 66
        }
    }

    /// The JWK `crv` name.
    public var jwkName: String {
        switch self {
        case .p256: return "P-256"
        case .p384: return "P-384"
        case .p521: return "P-521"
        }
    }

    /// The digest JOSE pairs with this curve (ES256 = P-256 + SHA-256, and so on).
    public var joseDigest: DigestAlgorithm {
        switch self {
        case .p256: return .sha256
        case .p384: return .sha384
        case .p521: return .sha512
        }
    }

    public init?(jwkName: String) {
        guard let curve = Self.allCases.first(where: { $0.jwkName == jwkName }) else { return nil }
        self = curve
    }

    var nid: Int32 {
        switch self {
        case .p256: return NID_X9_62_prime256v1
        case .p384: return NID_secp384r1
        case .p521: return NID_secp521r1
        }
    }

    init?(nid: Int32) {
        guard let curve = Self.allCases.first(where: { $0.nid == nid }) else { return nil }
        self = curve
    }

    /// The group order n, big-endian, left-padded to ``coordinateSize``.
    var order: [UInt8] {
        switch self {
        case .p256: return CurveOrders.shared.p256
        case .p384: return CurveOrders.shared.p384
        case .p521: return CurveOrders.shared.p521
        }
    }
}

/// Group orders read from OpenSSL once, so that range checks on r and s are plain byte compares.
final class CurveOrders: Sendable {
    let p256: [UInt8]
    let p384: [UInt8]
    let p521: [UInt8]

    private init() {
        self.p256 = Self.order(of: .p256)
        self.p384 = Self.order(of: .p384)
        self.p521 = Self.order(of: .p521)
    }

    static let shared = CurveOrders()

    private static func order(of curve: ECCurve) -> [UInt8] {
        guard let group = EC_GROUP_new_by_curve_name(curve.nid), let order = EC_GROUP_get0_order(group) else {
            fatalError("EC_GROUP_new_by_curve_name(\(curve.jwkName)) failed: \(OpenSSLError.drainStrings())")
        }
        defer { EC_GROUP_free(group) }
        let size = curve.coordinateSize
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = Int(BN_bn2binpad(order, buffer.baseAddress, Int32(size)))
            precondition(count == size, "curve order does not fit its coordinate size")
        }
    }
}

/// What a key is, as far as choosing a signature algorithm goes.
public enum KeyKind: Sendable, Hashable, CustomStringConvertible {
    case rsa(bits: Int)
    case ec(ECCurve)
    case ed25519

    public var description: String {
        switch self {
        case .rsa(let bits): return "RSA-\(bits)"
        case .ec(let curve): return "EC \(curve.jwkName)"
        case .ed25519: return "Ed25519"
        }
    }

    /// Whether a key of this kind may produce or check signatures of `algorithm`.
    ///
    /// ECDSA additionally requires JOSE's curve/digest pairing: ES256 only with P-256, etc.
    func fits(_ algorithm: SignatureAlgorithm) -> Bool {
        switch (self, algorithm) {
        case (.rsa, .rsaPKCS1v15), (.rsa, .rsaPSS), (.ed25519, .ed25519):
            return true
        case (.ec(let curve), .ecdsa(let digest)):
            return curve.joseDigest == digest
        default:
            return false
        }
    }
}

/// Why a key could not be imported or used.
public enum KeyError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The bytes are not a key in the expected encoding.
    case invalidEncoding(String)
    /// The key type or curve is not one Portcullis accepts.
    case unsupportedKey(String)
    /// RSA moduli shorter than 2048 bits are refused.
    case rsaModulusTooSmall(bits: Int)
    /// The EC point is not on the named curve (or is the point at infinity).
    case invalidECPoint(String)
    /// OpenSSL refused an operation.
    case openSSL(OpenSSLError)

    public var description: String {
        switch self {
        case .invalidEncoding(let why): return "invalid key encoding: \(why)"
        case .unsupportedKey(let why): return "unsupported key: \(why)"
        case .rsaModulusTooSmall(let bits): return "RSA modulus of \(bits) bits is too small (at least 2048 required)"
        case .invalidECPoint(let why): return "invalid EC public key: \(why)"
        case .openSSL(let error): return error.description
        }
    }
}
