/// A seeded 64-bit hash of a byte run for hash tables keyed by request bytes (tokens, identity
/// values): reads eight bytes at a time and mixes with 64×64→128-bit multiplies folded to 64
/// bits, the construction of the wyhash family that Go's and Zig's hash maps use.
///
/// Not a cryptographic hash and not a MAC. What the tables need is that a client who does not
/// know the seed cannot make many keys share a bucket; the seed is random per process
/// (`processSeed`), and every byte of the key goes through the multiplies. Equality is always
/// checked on the bytes themselves, so a collision costs a comparison, never a wrong entry.
public enum FastHash {
    /// Odd 64-bit constants with balanced bits (the secret of the mix).
    @usableFromInline static let p0: UInt64 = 0xA076_1D64_78BD_642F
    @usableFromInline static let p1: UInt64 = 0xE703_7ED1_A0B4_28DB
    @usableFromInline static let p2: UInt64 = 0x8EBC_6AF0_9C88_C6E3
    @usableFromInline static let p3: UInt64 = 0x5899_65CC_7537_4CC3

    /// Drawn once per process from the system's random source.
    public static let processSeed = UInt64.random(in: .min ... .max)

    /// The high and low halves of a full product, folded.
    @inlinable @inline(__always)
    static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (high, low) = a.multipliedFullWidth(by: b)
        return high ^ low
    }

    @inlinable @inline(__always)
    static func word(_ p: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inlinable @inline(__always)
    static func half(_ p: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
    }

    @inlinable
    public static func hash(_ p: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        let n = p.count
        var state = seed ^ mix(seed ^ p0, p1)
        var a: UInt64
        var b: UInt64
        if n <= 16 {
            if n >= 4 {
                // Two overlapping 4-byte reads at each end cover 4 to 16 bytes.
                let step = (n >> 3) << 2
                a = half(p, 0) << 32 | half(p, step)
                b = half(p, n - 4) << 32 | half(p, n - 4 - step)
            } else if n > 0 {
                a = UInt64(p[0]) << 16 | UInt64(p[n >> 1]) << 8 | UInt64(p[n - 1])
                b = 0
            } else {
                a = 0
                b = 0
            }
        } else {
            var offset = 0
            var rest = n
            if rest > 48 {
                // Three independent lanes, 48 bytes a round.
                var lane1 = state
                var lane2 = state
                repeat {
                    state = mix(word(p, offset) ^ p1, word(p, offset + 8) ^ state)
                    lane1 = mix(word(p, offset + 16) ^ p2, word(p, offset + 24) ^ lane1)
                    lane2 = mix(word(p, offset + 32) ^ p3, word(p, offset + 40) ^ lane2)
                    offset += 48
                    rest -= 48
                } while rest > 48
                state ^= lane1 ^ lane2
            }
            while rest > 16 {
                state = mix(word(p, offset) ^ p1, word(p, offset + 8) ^ state)
                offset += 16
                rest -= 16
            }
            // The last 16 bytes (overlapping what came before when the length is not a multiple).
            a = word(p, n - 16)
            b = word(p, n - 8)
        }
        a ^= p1
        b ^= state
        let (high, low) = a.multipliedFullWidth(by: b)
        return mix(low ^ p0 ^ UInt64(n), high ^ p1)
    }
}
