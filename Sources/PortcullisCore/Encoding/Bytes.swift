#if canImport(Glibc)
public import Glibc
#endif

/// Byte-range comparisons for cache keys and lookups on the request path. `elementsEqual` on a
/// `String.UTF8View` or a buffer walks one byte per iteration through the generic sequence
/// protocol: for a 250-byte token it took longer than the rest of a cached JWT check
/// (benchmarks/README.md, "Entering admission"). `memcmp` compares a word or a vector at a time.
/// Not constant time: never for secrets (`ConstantTime` in PortcullisTLS is for those).
public enum Bytes {
    @inlinable
    public static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard a.count > 0, let x = a.baseAddress, let y = b.baseAddress else { return true }
        return memcmp(x, y, a.count) == 0
    }
}
