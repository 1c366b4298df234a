internal import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// The SHA-2 digests Portcullis uses for hashing, HMAC and signatures.
public enum DigestAlgorithm: Sendable, Hashable, CaseIterable {
    case sha256
    case sha384
    case sha512

    /// Output size in bytes.
    public var outputSize: Int {
        switch self {
        case .sha256: return 32
        case .sha384: return 48
        case .sha512: return 64
        }
    }

    /// The name OpenSSL's providers know the algorithm by.
    var openSSLName: String {
        switch self {
        case .sha256: return "SHA2-256"
        case .sha384: return "SHA2-384"
        case .sha512: return "SHA2-512"
        }
    }

    /// The provider implementation, fetched once per process.
    var fetched: FetchedDigest {
        switch self {
        case .sha256: return FetchedDigest.sha256
        case .sha384: return FetchedDigest.sha384
        case .sha512: return FetchedDigest.sha512
        }
    }
}

/// An `EVP_MD` fetched from the default provider with `EVP_MD_fetch`.
///
/// Fetching looks the algorithm up in the provider store under a lock; doing it per call costs more
/// than hashing a JWT. These are fetched on first use and never freed (process lifetime).
///
/// `@unchecked Sendable`: a fetched `EVP_MD` is immutable and documented as safe to share between
/// threads; every use creates its own `EVP_MD_CTX`.
final class FetchedDigest: @unchecked Sendable {
    let md: OpaquePointer

    private init(_ name: String) {
        guard let md = EVP_MD_fetch(nil, name, nil) else {
            // The default provider always has SHA-2; if it cannot be loaded nothing else in
            // this module can work either, so failing loudly at first use is the honest choice.
            fatalError("EVP_MD_fetch(\(name)) failed: \(OpenSSLError.drainStrings())")
        }
        self.md = md
    }

    static let sha256 = FetchedDigest("SHA2-256")
    static let sha384 = FetchedDigest("SHA2-384")
    static let sha512 = FetchedDigest("SHA2-512")
}

/// One-shot SHA-2 hashing.
public enum Digest {
    /// Hashes `data` with `algorithm`.
    public static func hash(_ algorithm: DigestAlgorithm, _ data: some Collection<UInt8>) -> [UInt8] {
        if let digest = data.withContiguousStorageIfAvailable({ Self.hash(algorithm, UnsafeRawBufferPointer($0)) }) {
            return digest
        }
        return Array(data).withUnsafeBytes { Self.hash(algorithm, $0) }
    }

    /// Hashes the bytes in `data` into `output` (at least `algorithm.outputSize` bytes): no array
    /// is made, for per-request hashing into a buffer on the stack.
    public static func hash(_ algorithm: DigestAlgorithm, _ data: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        let size = algorithm.outputSize
        precondition(output.count >= size, "digest output buffer too small")
        var written: UInt32 = 0
        OpenSSLError.clearQueue()
        let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let ok: Int32
        if let ctx = ThreadDigestContext.current() {
            // The thread's context, initialised again: EVP_Digest makes and frees a context per
            // call, two allocations of OpenSSL's for every API key and SigV4 request.
            ok = EVP_DigestInit_ex2(ctx, algorithm.fetched.md, nil) == 1 && EVP_DigestUpdate(ctx, data.baseAddress, data.count) == 1
                && EVP_DigestFinal_ex(ctx, out, &written) == 1 ? 1 : 0
        } else {
            ok = EVP_Digest(data.baseAddress, data.count, out, &written, algorithm.fetched.md, nil)
        }
        precondition(ok == 1 && Int(written) == size, "digest failed: \(OpenSSLError.drainStrings())")
    }

    /// Hashes the bytes in `data` with `algorithm`.
    public static func hash(_ algorithm: DigestAlgorithm, _ data: UnsafeRawBufferPointer) -> [UInt8] {
        let size = algorithm.outputSize
        return [UInt8](unsafeUninitializedCapacity: size) { output, count in
            var written: UInt32 = 0
            OpenSSLError.clearQueue()
            // EVP_Digest only fails on allocation failure or a broken provider.
            let ok = EVP_Digest(
                data.baseAddress, data.count, output.baseAddress, &written, algorithm.fetched.md, nil)
            precondition(ok == 1 && Int(written) == size, "EVP_Digest failed: \(OpenSSLError.drainStrings())")
            count = size
        }
    }
}

/// One `EVP_MD_CTX` per thread, reused by `Digest.hash(_:_:into:)` (the per-request hashing) and
/// freed when the thread ends. A context is used by one thread at a time, as OpenSSL requires.
enum ThreadDigestContext {
    private static let key: pthread_key_t? = {
        var key = pthread_key_t()
        guard pthread_key_create(&key, { EVP_MD_CTX_free(OpaquePointer($0)) }) == 0 else { return nil }
        return key
    }()

    /// This thread's context, made on first use; nil if one cannot be made (then the caller
    /// hashes with a context of its own).
    static func current() -> OpaquePointer? {
        guard let key else { return nil }
        if let p = pthread_getspecific(key) { return OpaquePointer(p) }
        guard let ctx = EVP_MD_CTX_new() else { return nil }
        guard pthread_setspecific(key, UnsafeRawPointer(ctx)) == 0 else {
            EVP_MD_CTX_free(ctx)
            return nil
        }
        return ctx
    }
}
