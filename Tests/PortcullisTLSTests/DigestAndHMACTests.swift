import PortcullisTLS
import Testing

@Suite("SHA-2 digests")
struct DigestTests {
    // FIPS 180-2 appendix examples ("abc", the 448-bit message) and the empty string.
    @Test(arguments: [
        (DigestAlgorithm.sha256, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (.sha256, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (.sha256, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        (.sha384, "abc",
         "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
        (.sha384, "",
         "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"),
        (.sha512, "abc",
         "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
        (.sha512, "",
         "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
    ])
    func knownAnswers(algorithm: DigestAlgorithm, message: String, expected: String) {
        #expect(Digest.hash(algorithm, Array(message.utf8)) == TestSupport.hex(expected))
        #expect(Digest.hash(algorithm, message.utf8) == TestSupport.hex(expected))  // non-array collection
        let viaPointer = Array(message.utf8).withUnsafeBytes { Digest.hash(algorithm, $0) }
        #expect(viaPointer == TestSupport.hex(expected))
    }

    @Test func millionAs() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(Digest.hash(.sha256, message)
            == TestSupport.hex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"))
    }
}

@Suite("HMAC (RFC 4231)")
struct HMACTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var name: String
        var key: [UInt8]
        var data: [UInt8]
        var sha256: String
        var sha384: String
        var sha512: String
        var testDescription: String { self.name }
    }

    static let vectors: [Vector] = [
        Vector(name: "4.2 test case 1", key: [UInt8](repeating: 0x0b, count: 20), data: Array("Hi There".utf8),
               sha256: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
               sha384: "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
               sha512: "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"),
        Vector(name: "4.3 test case 2", key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8),
               sha256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
               sha384: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
               sha512: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"),
        Vector(name: "4.4 test case 3", key: [UInt8](repeating: 0xaa, count: 20), data: [UInt8](repeating: 0xdd, count: 50),
               sha256: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
               sha384: "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27",
               sha512: "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb"),
        Vector(name: "4.5 test case 4", key: Array(1...25), data: [UInt8](repeating: 0xcd, count: 50),
               sha256: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
               sha384: "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb",
               sha512: "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd"),
        Vector(name: "4.7 test case 6", key: [UInt8](repeating: 0xaa, count: 131),
               data: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
               sha256: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
               sha384: "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
               sha512: "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"),
        Vector(name: "4.8 test case 7", key: [UInt8](repeating: 0xaa, count: 131),
               data: Array("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".utf8),
               sha256: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
               sha384: "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e",
               sha512: "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58"),
    ]

    @Test(arguments: vectors)
    func rfc4231(vector: Vector) {
        for (algorithm, expected) in [(DigestAlgorithm.sha256, vector.sha256), (.sha384, vector.sha384), (.sha512, vector.sha512)] {
            let key = HMACKey(algorithm: algorithm, key: vector.key)
            let mac = key.authenticationCode(for: vector.data)
            #expect(mac == TestSupport.hex(expected), "\(algorithm)")
            #expect(key.isValidSignature(TestSupport.hex(expected), for: vector.data))
            // The same key object computes repeatedly (the keyed template is duplicated, not consumed).
            #expect(vector.data.withUnsafeBytes { key.authenticationCode(for: $0) } == mac)
        }
    }

    @Test func truncatedTestCase5() {
        // RFC 4231 4.6: only the first 128 bits are specified.
        let key = HMACKey(algorithm: .sha256, key: [UInt8](repeating: 0x0c, count: 20))
        let mac = key.authenticationCode(for: Array("Test With Truncation".utf8))
        #expect(Array(mac.prefix(16)) == TestSupport.hex("a3b6167473100ee06e0c796c2955552b"))
    }

    @Test func rejectsAlteredOrShortSignatures() {
        let key = HMACKey(algorithm: .sha256, key: Array("Jefe".utf8))
        let data = Array("what do ya want for nothing?".utf8)
        var mac = key.authenticationCode(for: data)
        #expect(key.isValidSignature(mac, for: data))
        #expect(!key.isValidSignature(mac.dropLast(), for: data))
        #expect(!key.isValidSignature([], for: data))
        mac[31] ^= 1
        #expect(!key.isValidSignature(mac, for: data))
    }

    @Test func constantTimeEqualsBasics() {
        #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2]))
        #expect(constantTimeEquals([UInt8](), [UInt8]()))
        #expect(constantTimeEquals([1, 2, 3][1...], [2, 3]))
    }

    @Test func secureRandom() {
        let a = SecureRandom.bytes(32)
        let b = SecureRandom.bytes(32)
        #expect(a.count == 32 && b.count == 32 && a != b)
        #expect(SecureRandom.bytes(0).isEmpty)
        var buffer = [UInt8](repeating: 0, count: 64)
        buffer.withUnsafeMutableBytes { SecureRandom.fill($0) }
        #expect(buffer.contains { $0 != 0 })
    }
}
