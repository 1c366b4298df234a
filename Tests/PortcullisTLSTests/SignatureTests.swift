import Foundation
import PortcullisTLS
import Testing

@Suite("Signatures: published vectors and rejection rules")
struct SignatureTests {
    /// RFC 8032 section 7.1, TEST 1, 2 and 3: (secret seed, public key, message, signature).
    static let ed25519Vectors: [(String, String, String, String)] = [
        ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
        ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
         "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
         "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ]

    /// A PKCS#8 PEM for an Ed25519 seed (the fixed 16-byte prefix is the AlgorithmIdentifier).
    static func ed25519PrivatePEM(seed: [UInt8]) -> String {
        let der = TestSupport.hex("302e020100300506032b657004220420") + seed
        return "-----BEGIN PRIVATE KEY-----\n\(Data(der).base64EncodedString())\n-----END PRIVATE KEY-----\n"
    }

    @Test(arguments: 0..<3)
    func rfc8032Ed25519(index: Int) throws {
        let (seed, publicHex, messageHex, signatureHex) = Self.ed25519Vectors[index]
        let key = try PublicKey.ed25519(raw: TestSupport.hex(publicHex))
        #expect(key.kind == .ed25519)
        let message = TestSupport.hex(messageHex)
        let signature = TestSupport.hex(signatureHex)
        #expect(key.verify(signature: signature, message: message, algorithm: .ed25519))
        var altered = signature
        altered[0] ^= 0x01
        #expect(!key.verify(signature: altered, message: message, algorithm: .ed25519))
        #expect(!key.verify(signature: signature, message: message + [0], algorithm: .ed25519))

        // Ed25519 is deterministic: our signer must reproduce the RFC signature exactly.
        let privateKey = try PrivateKey(pem: Self.ed25519PrivatePEM(seed: TestSupport.hex(seed)))
        #expect(try privateKey.sign(message: message, algorithm: .ed25519) == signature)
        #expect(privateKey.publicKey.jwkMembers["x"] == Base64URLForTests.encode(TestSupport.hex(publicHex)))
    }

    static let p256GX = TestSupport.hex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")
    static let p256GY = TestSupport.hex("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
    static let p256Order = TestSupport.hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")

    @Test func ecPointMustBeOnCurve() throws {
        let generator = try PublicKey.ec(curve: .p256, x: Self.p256GX, y: Self.p256GY)
        #expect(generator.kind == .ec(.p256))
        var offCurveY = Self.p256GY
        offCurveY[31] ^= 0x01
        #expect(throws: KeyError.self) { try PublicKey.ec(curve: .p256, x: Self.p256GX, y: offCurveY) }
        // Coordinates must have the exact field size (JWK requires the full length).
        #expect(throws: KeyError.self) { try PublicKey.ec(curve: .p256, x: Array(Self.p256GX.dropFirst()), y: Self.p256GY) }
        #expect(throws: KeyError.self) { try PublicKey.ec(curve: .p384, x: Self.p256GX, y: Self.p256GY) }
        #expect(throws: KeyError.self) {
            try PublicKey.ec(curve: .p256, x: [UInt8](repeating: 0, count: 32), y: [UInt8](repeating: 0, count: 32))
        }
    }

    @Test func ecdsaRejectsZeroOutOfRangeAndWrongLength() throws {
        let privateKey = try PrivateKey(pem: try Self.generatePrivateKeyPEM(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]))
        let key = privateKey.publicKey
        let message = Array("payload".utf8)
        let signature = try privateKey.sign(message: message, algorithm: .ecdsa(.sha256))
        #expect(signature.count == 64)
        #expect(key.verify(signature: signature, message: message, algorithm: .ecdsa(.sha256)))

        #expect(!key.verify(signature: [UInt8](repeating: 0, count: 64), message: message, algorithm: .ecdsa(.sha256)))
        let r = Array(signature[0..<32])
        let s = Array(signature[32..<64])
        let zero = [UInt8](repeating: 0, count: 32)
        #expect(!key.verify(signature: zero + s, message: message, algorithm: .ecdsa(.sha256)))
        #expect(!key.verify(signature: r + zero, message: message, algorithm: .ecdsa(.sha256)))
        #expect(!key.verify(signature: r + Self.p256Order, message: message, algorithm: .ecdsa(.sha256)))
        #expect(!key.verify(signature: Self.p256Order + s, message: message, algorithm: .ecdsa(.sha256)))
        // Wrong lengths, including the same values with a leading zero byte and DER-style inputs.
        #expect(!key.verify(signature: Array(signature.dropLast()), message: message, algorithm: .ecdsa(.sha256)))
        #expect(!key.verify(signature: signature + [0], message: message, algorithm: .ecdsa(.sha256)))
        #expect(!key.verify(signature: [0] + signature, message: message, algorithm: .ecdsa(.sha256)))
        #expect(!key.verify(signature: [], message: message, algorithm: .ecdsa(.sha256)))
        // Key kind must fit: P-256 only with SHA-256; never with RSA or Ed25519 algorithms.
        #expect(!key.verify(signature: signature, message: message, algorithm: .ecdsa(.sha384)))
        #expect(!key.verify(signature: signature, message: message, algorithm: .rsaPKCS1v15(.sha256)))
        #expect(!key.verify(signature: signature, message: message, algorithm: .ed25519))
    }

    @Test func rsaBelow2048BitsIsRefused() throws {
        let small = [UInt8](repeating: 0xc5, count: 128)  // 1024-bit modulus
        #expect(throws: KeyError.rsaModulusTooSmall(bits: 1024)) {
            try PublicKey.rsa(modulus: small, exponent: [1, 0, 1])
        }
        let pem = try Self.generatePrivateKeyPEM(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"])
        #expect(throws: KeyError.rsaModulusTooSmall(bits: 1024)) { try PrivateKey(pem: pem) }
        let publicPEM = try TestSupport.run("openssl", ["pkey", "-pubout"], input: pem)
        #expect(publicPEM.status == 0)
        #expect(throws: KeyError.rsaModulusTooSmall(bits: 1024)) { try PublicKey(pem: publicPEM.output) }
    }

    @Test func rsaJWKRoundTripAndMismatchedKinds() throws {
        let privateKey = try PrivateKey(pem: try Self.generatePrivateKeyPEM(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]))
        #expect(privateKey.kind == .rsa(bits: 2048))
        let jwk = privateKey.publicKey.jwkMembers
        #expect(jwk["kty"] == "RSA" && jwk["e"] == "AQAB")
        let rebuilt = try PublicKey.rsa(modulus: TestSupport.base64URL(jwk["n"]!)!, exponent: TestSupport.base64URL(jwk["e"]!)!)
        #expect(rebuilt.derRepresentation == privateKey.publicKey.derRepresentation)
        let message = Array("hello".utf8)
        for algorithm in [SignatureAlgorithm.rsaPKCS1v15(.sha256), .rsaPSS(.sha384), .rsaPSS(.sha512)] {
            let signature = try privateKey.sign(message: message, algorithm: algorithm)
            #expect(rebuilt.verify(signature: signature, message: message, algorithm: algorithm))
        }
        let pkcs1 = try privateKey.sign(message: message, algorithm: .rsaPKCS1v15(.sha256))
        #expect(!rebuilt.verify(signature: pkcs1, message: message, algorithm: .rsaPSS(.sha256)))
        #expect(!rebuilt.verify(signature: pkcs1, message: message, algorithm: .rsaPKCS1v15(.sha384)))
        #expect(!rebuilt.verify(signature: pkcs1, message: message, algorithm: .ecdsa(.sha256)))
        #expect(throws: KeyError.self) { try privateKey.sign(message: message, algorithm: .ed25519) }
        #expect(throws: KeyError.self) { try PublicKey(pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n") }
        #expect(throws: KeyError.self) { try PublicKey(der: [0x30, 0x00]) }
        #expect(try PublicKey(der: rebuilt.derRepresentation).kind == .rsa(bits: 2048))
    }

    static func generatePrivateKeyPEM(_ arguments: [String]) throws -> String {
        let result = try TestSupport.run("openssl", ["genpkey"] + arguments)
        try #require(result.status == 0, "openssl genpkey failed: \(result.output)")
        return result.output
    }
}

/// Independent base64url encoder for comparing JWK output (Foundation, not the module's own).
enum Base64URLForTests {
    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
