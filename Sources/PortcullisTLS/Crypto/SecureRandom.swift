internal import COpenSSL

/// Cryptographically secure random bytes from OpenSSL's DRBG (`RAND_bytes`), seeded by the kernel.
public enum SecureRandom {
    /// Returns `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        precondition(count >= 0, "negative byte count")
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            Self.fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }

    /// Overwrites every byte of `buffer` with random bytes.
    ///
    /// A DRBG that cannot produce output (no entropy source) is not something a caller can
    /// recover from: handing out predictable tokens or nonces would be worse than stopping.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        var offset = 0
        while offset < buffer.count {
            let chunk = min(buffer.count - offset, Int(Int32.max))
            OpenSSLError.clearQueue()
            let ok = RAND_bytes(base.advanced(by: offset).assumingMemoryBound(to: UInt8.self), Int32(chunk))
            precondition(ok == 1, "RAND_bytes failed: \(OpenSSLError.drainStrings())")
            offset += chunk
        }
    }
}
