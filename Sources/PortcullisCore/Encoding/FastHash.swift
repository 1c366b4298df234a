/// A seeded 64-bit hash of a byte run for hash tables keyed by request bytes (tokens, identity
/// values): reads eight bytes at a time and mixes with 64×64→128-bit multiplies folded to 64
/// bits, the construction of the wyhash family that Go's and Zig's hash maps use.
///
/// Not a cryptographic hash and not a MAC. What the tables need is that a client who does not
/// know the process's secrets cannot make many keys share a bucket. Every input word is XORed
/// with a secret before it is multiplied: with public constants there (wyhash's own), a client
/// could send the constant itself, make one factor zero and wipe what the lane had hashed, so
/// that keys differing in those bytes collide for every seed. The secrets and the seed are
/// random per process; every byte of the key goes through the multiplies. Equality is always
/// checked on the bytes themselves, so a collision costs a comparison, never a wrong entry.
public enum FastHash {
    /// Four random odd words, drawn once per process from the system's random source.
    @usableFromInline static let secrets: (UInt64, UInt64, UInt64, UInt64) = {
        var g = SystemRandomNumberGenerator()
        return (g.next() | 1, g.next() | 1, g.next() | 1, g.next() | 1)
    }()

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
        let (s0, s1, s2, s3) = secrets
        let n = p.count
        var state = seed ^ mix(seed ^ s0, s1)
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
                    state = mix(word(p, offset) ^ s1, word(p, offset + 8) ^ state)
                    lane1 = mix(word(p, offset + 16) ^ s2, word(p, offset + 24) ^ lane1)
                    lane2 = mix(word(p, offset + 32) ^ s3, word(p, offset + 40) ^ lane2)
                    offset += 48
                    rest -= 48
                } while rest > 48
                state ^= lane1 ^ lane2
            }
            while rest > 16 {
                state = mix(word(p, offset) ^ s1, word(p, offset + 8) ^ state)
                offset += 16
                rest -= 16
            }
            // The last 16 bytes (overlapping what came before when the length is not a multiple).
            a = word(p, n - 16)
            b = word(p, n - 8)
        }
        a ^= s1
        b ^= state
        let (high, low) = a.multipliedFullWidth(by: b)
        return mix(low ^ s0 ^ UInt64(n), high ^ s1)
    }
}
