internal import COpenSSL

/// Compares two byte sequences in time that depends only on their lengths, never on where they differ.
///
/// Lengths are not secret (a MAC or signature has a public, fixed size), so unequal lengths return
/// `false` at once. Equal-length contents are compared with `CRYPTO_memcmp`.
public func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return withContiguousBytes(a) { left in
        withContiguousBytes(b) { right in
            CRYPTO_memcmp(left.baseAddress, right.baseAddress, left.count) == 0
        }
    }
}

/// Runs `body` on the bytes of `bytes`, copying only when the collection is not contiguous.
func withContiguousBytes<C: Collection<UInt8>, R>(
    _ bytes: C, _ body: (UnsafeRawBufferPointer) throws -> R
) rethrows -> R {
    if let result = try bytes.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
        return result
    }
    return try Array(bytes).withUnsafeBytes(body)
}
