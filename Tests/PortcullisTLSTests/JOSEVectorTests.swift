import Foundation
import PortcullisTLS
import Testing

/// RFC 7520 (JOSE cookbook) and RFC 8037 signatures, verified with keys built from JWK members.
@Suite("Published JOSE vectors")
struct JOSEVectorTests {
    static func load(_ relativePath: String) throws -> [String: Any]? {
        let url = TestSupport.vectorsDirectory.appendingPathComponent(relativePath)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
    }

    static func publicKey(fromJWK jwk: [String: Any]) throws -> PublicKey {
        func member(_ name: String) throws -> [UInt8] {
            let text = try #require(jwk[name] as? String)
            return try #require(TestSupport.base64URL(text))
        }
        switch jwk["kty"] as? String {
        case "RSA": return try PublicKey.rsa(modulus: member("n"), exponent: member("e"))
        case "EC":
            let name = try #require(jwk["crv"] as? String)
            let curve = try #require(ECCurve(jwkName: name))
            return try PublicKey.ec(curve: curve, x: member("x"), y: member("y"))
        default: return try PublicKey.ed25519(raw: member("x"))
        }
    }

    @Test(arguments: [
        ("rfc7520/jws/4_1.rsa_v15_signature.json", SignatureAlgorithm.rsaPKCS1v15(.sha256)),
        ("rfc7520/jws/4_2.rsa-pss_signature.json", .rsaPSS(.sha384)),
        ("rfc7520/jws/4_3.ecdsa_signature.json", .ecdsa(.sha512)),
        ("rfc8037-curve25519/jws.json", .ed25519),
    ])
    func verifiesCookbookSignature(path: String, algorithm: SignatureAlgorithm) throws {
        guard let vector = try Self.load(path) else {
            Issue.record("vector \(path) not found under \(TestSupport.vectorsDirectory.path) (expected ../shared/vectors beside the clone)")
            return
        }
        let input = try #require(vector["input"] as? [String: Any])
        let signing = try #require(vector["signing"] as? [String: Any])
        let jwk = try #require(input["key"] as? [String: Any])
        let key = try Self.publicKey(fromJWK: jwk)
        let signingInputText = try #require(signing["sig-input"] as? String)
        let signingInput = Array(signingInputText.utf8)
        let signatureText = try #require(signing["sig"] as? String)
        let signature = try #require(TestSupport.base64URL(signatureText))
        #expect(key.verify(signature: signature, message: signingInput, algorithm: algorithm))
        #expect(!key.verify(signature: signature, message: signingInput + [0x2e], algorithm: algorithm))
    }
}
