import Foundation
import PortcullisTLS
import Testing

@Suite("Signatures made by independent implementations")
struct InteropSignatureTests {
    static func algorithm(named name: String) -> SignatureAlgorithm? {
        let digests: [String: DigestAlgorithm] = ["256": .sha256, "384": .sha384, "512": .sha512]
        if name == "EdDSA" { return .ed25519 }
        guard let digest = digests[String(name.suffix(3))] else { return nil }
        switch name.prefix(2) {
        case "RS": return .rsaPKCS1v15(digest)
        case "PS": return .rsaPSS(digest)
        case "ES": return .ecdsa(digest)
        default: return nil
        }
    }

    /// Python's `cryptography` (pyca) makes keys and signatures for every JOSE algorithm at test
    /// time; we must verify each, reject a tampered copy, and our signatures must verify too.
    @Test func pythonCryptographySignatures() throws {
        let directory = try TestSupport.makeTemporaryDirectory("portcullis-sigs")
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = TestSupport.fixturesDirectory.appendingPathComponent("make_signatures.py").path
        let result: TestSupport.ProcessResult
        do {
            result = try TestSupport.run("python3", [script, directory.path])
        } catch {
            Issue.record("python3 could not be started (\(error)); install python3 and `pip install -r Tests/requirements.txt`")
            return
        }
        try #require(result.status == 0, """
            make_signatures.py failed (exit \(result.status)); python3 with the 'cryptography' package is \
            required: pip install -r Tests/requirements.txt\n\(result.output)
            """)
        let data = try Data(contentsOf: directory.appendingPathComponent("cases.json"))
        let cases = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: String]])
        let names = Set(cases.compactMap { $0["alg"] })
        #expect(names == ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"])

        for entry in cases {
            let name = entry["alg"]!
            let algorithm = try #require(Self.algorithm(named: name))
            let publicKey = try PublicKey(pem: entry["public_pem"]!)
            let message = TestSupport.hex(entry["message"]!)
            let signature = TestSupport.hex(entry["signature"]!)
            #expect(publicKey.verify(signature: signature, message: message, algorithm: algorithm), "\(name) from Python")
            var tampered = message
            tampered[0] ^= 0x80
            #expect(!publicKey.verify(signature: signature, message: tampered, algorithm: algorithm), "\(name) tampered")

            // And the other direction: our own signature verifies under the same public key.
            let privateKey = try PrivateKey(pem: entry["private_pem"]!)
            #expect(privateKey.publicKey.derRepresentation == publicKey.derRepresentation)
            let ours = try privateKey.sign(message: message, algorithm: algorithm)
            #expect(publicKey.verify(signature: ours, message: message, algorithm: algorithm), "\(name) own signature")

            // JWK members rebuild an equal key.
            let jwk = publicKey.jwkMembers
            let rebuilt: PublicKey
            switch jwk["kty"] {
            case "RSA":
                rebuilt = try PublicKey.rsa(modulus: TestSupport.base64URL(jwk["n"]!)!, exponent: TestSupport.base64URL(jwk["e"]!)!)
            case "EC":
                let curve = try #require(ECCurve(jwkName: jwk["crv"]!))
                rebuilt = try PublicKey.ec(curve: curve, x: TestSupport.base64URL(jwk["x"]!)!, y: TestSupport.base64URL(jwk["y"]!)!)
            default:
                rebuilt = try PublicKey.ed25519(raw: TestSupport.base64URL(jwk["x"]!)!)
            }
            #expect(rebuilt.derRepresentation == publicKey.derRepresentation, "\(name) JWK round trip")
        }
    }
}
