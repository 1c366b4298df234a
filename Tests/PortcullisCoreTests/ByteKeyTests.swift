import Testing

@testable import PortcullisCore

/// The keys of the token and external-authorizer caches: a seeded hash of every byte, equality
/// on the bytes, and probes that equal the keys they look up.
@Suite struct ByteKeyTests {
    /// Every length up to 200 (each branch of the hash: 0-3, 4-16, 17-48, over 48 bytes), every
    /// position, two different flips: the hash changes whenever a byte does.
    @Test func everyByteOfEveryLengthChangesTheHash() {
        for n in 0...200 {
            var bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let base = bytes.withUnsafeBytes { FastHash.hash($0, seed: 42) }
            for i in 0..<n {
                for flip: UInt8 in [0x01, 0x80] {
                    bytes[i] ^= flip
                    let changed = bytes.withUnsafeBytes { FastHash.hash($0, seed: 42) }
                    bytes[i] ^= flip
                    #expect(changed != base, "length \(n), byte \(i), flip \(flip)")
                }
            }
        }
    }

    /// A trailing zero byte is not the same key: the length is part of the hash.
    @Test func lengthIsPartOfTheHash() {
        var seen = Set<UInt64>()
        for n in 0...64 {
            let zeros = [UInt8](repeating: 0, count: n)
            seen.insert(zeros.withUnsafeBytes { FastHash.hash($0, seed: 7) })
        }
        #expect(seen.count == 65)
    }

    @Test func theSeedChangesEveryHash() {
        for n in [0, 3, 9, 16, 40, 300] {
            let bytes = [UInt8](repeating: 0x61, count: n)
            let a = bytes.withUnsafeBytes { FastHash.hash($0, seed: 1) }
            let b = bytes.withUnsafeBytes { FastHash.hash($0, seed: 2) }
            #expect(a != b, "length \(n)")
        }
    }

    /// Tokens that share their first and last 200 bytes and differ only in the middle (what
    /// would defeat a hash of the ends) spread evenly over 1,024 buckets: no bucket gets more
    /// than three times its share.
    @Test func keysThatDifferInTheMiddleSpreadEvenly() {
        let prefix = Array("Bearer eyJhbGciOiJSUzI1NiJ9.".utf8) + [UInt8](repeating: 0x41, count: 172)
        let suffix = [UInt8](repeating: 0x7A, count: 200)
        var buckets = [Int](repeating: 0, count: 1024)
        let count = 64 * 1024
        for i in 0..<count {
            var middle = [UInt8](repeating: 0x30, count: 8)
            var v = i
            for j in 0..<8 {
                middle[j] = UInt8(0x30 + v % 10)
                v /= 10
            }
            let key = prefix + middle + suffix
            let h = key.withUnsafeBytes { FastHash.hash($0, seed: FastHash.processSeed) }
            buckets[Int(h & 1023)] += 1
        }
        #expect(buckets.max()! <= 3 * count / 1024)
        #expect(buckets.min()! > 0)
    }

    /// With wyhash's public constants XORed into a lane's input, a key carrying the constant
    /// itself zeroed that lane's product and wiped the bytes it had hashed: keys over 96 bytes
    /// differing only there collided whatever the seed. The inputs are XORed with per-process
    /// secrets now; the same keys get different hashes.
    @Test func aKnownConstantInTheKeyDoesNotWipeALane() {
        let wyhashP2: UInt64 = 0x8EBC_6AF0_9C88_C6E3
        var hashes = Set<UInt64>()
        for i in 0..<256 {
            var key = [UInt8](repeating: 0x41, count: 165)
            // Round one's lane-1 word (bytes 16-23) differs; round two's (bytes 64-71) is the constant.
            key[16] = UInt8(i)
            withUnsafeBytes(of: wyhashP2.littleEndian) { for (j, b) in $0.enumerated() { key[64 + j] = b } }
            hashes.insert(key.withUnsafeBytes { FastHash.hash($0, seed: FastHash.processSeed) })
        }
        #expect(hashes.count == 256)
    }

    /// A probe of bytes that are not UTF-8 makes an owned key whose text was repaired: its hash
    /// is the repaired text's, so owned keys of one text always agree.
    @Test func anOwnedCopyOfInvalidUTF8HashesItsOwnText() {
        let bytes: [UInt8] = [0x42, 0xFF, 0x43]
        bytes.withUnsafeBytes { raw in
            ByteKey.probe(raw) { probe in
                let owned = probe.owned
                #expect(owned == ByteKey(owned.text))
                #expect(owned.hash == ByteKey(owned.text).hash)
            }
        }
    }

    @Test func aProbeEqualsTheOwnedKeyOfTheSameBytes() {
        let owned = ByteKey("3:abc4:demo8:Bearer x")
        var text = "3:abc4:demo8:Bearer x"
        text.withUTF8 { bytes in
            ByteKey.probe(UnsafeRawBufferPointer(bytes)) { probe in
                #expect(!probe.isOwned)
                #expect(probe == owned)
                #expect(probe.hash == owned.hash)
                #expect(probe.owned.isOwned && probe.owned == owned)
                // A dictionary keyed by owned keys finds the entry through the probe.
                #expect([owned: 1][probe] == 1)
            }
        }
        #expect(ByteKey("a") != ByteKey("b"))
        // Equal hashes, different bytes: different keys.
        #expect(ByteKey("alice", hash: 7) != ByteKey("mallory", hash: 7))
    }
}
