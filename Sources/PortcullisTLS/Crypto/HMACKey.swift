internal import COpenSSL

/// An HMAC key (HMAC-SHA-256/384/512) ready to authenticate messages.
///
/// The key is installed once into a template `EVP_MAC_CTX`; each computation duplicates that
/// template, so the key schedule (the padded ipad/opad blocks) is not redone per message.
public struct HMACKey: Sendable {
    public let algorithm: DigestAlgorithm
    private let template: MACContextTemplate

    public init(algorithm: DigestAlgorithm, key: [UInt8]) {
        self.algorithm = algorithm
        self.template = MACContextTemplate(algorithm: algorithm, key: key)
    }

    /// The MAC of `data`.
    public func authenticationCode(for data: UnsafeRawBufferPointer) -> [UInt8] {
        self.template.compute(data)
    }

    /// The MAC of `data`.
    public func authenticationCode(for data: some Collection<UInt8>) -> [UInt8] {
        withContiguousBytes(data) { self.template.compute($0) }
    }

    /// Whether `signature` is the MAC of `data`, compared in constant time.
    public func isValidSignature(_ signature: some Collection<UInt8>, for data: UnsafeRawBufferPointer) -> Bool {
        constantTimeEquals(self.authenticationCode(for: data), signature)
    }

    /// Whether `signature` is the MAC of `data`, compared in constant time.
    public func isValidSignature(_ signature: some Collection<UInt8>, for data: some Collection<UInt8>) -> Bool {
        constantTimeEquals(self.authenticationCode(for: data), signature)
    }
}

/// The `EVP_MAC` implementation of HMAC, fetched once per process.
///
/// `@unchecked Sendable`: a fetched `EVP_MAC` is immutable and shareable between threads.
final class FetchedMAC: @unchecked Sendable {
    let mac: OpaquePointer

    private init() {
        guard let mac = EVP_MAC_fetch(nil, "HMAC", nil) else {
            fatalError("EVP_MAC_fetch(HMAC) failed: \(OpenSSLError.drainStrings())")
        }
        self.mac = mac
    }

    static let hmac = FetchedMAC()
}

/// Owns one keyed `EVP_MAC_CTX` that is never used directly, only duplicated.
///
/// `@unchecked Sendable`: after `init` the template is only read, by `EVP_MAC_CTX_dup`, which does
/// not modify its source; every computation then works on its own duplicate.
final class MACContextTemplate: @unchecked Sendable {
    private let ctx: OpaquePointer
    private let outputSize: Int

    init(algorithm: DigestAlgorithm, key: [UInt8]) {
        self.outputSize = algorithm.outputSize
        guard let ctx = EVP_MAC_CTX_new(FetchedMAC.hmac.mac) else {
            fatalError("EVP_MAC_CTX_new failed: \(OpenSSLError.drainStrings())")
        }
        self.ctx = ctx
        OpenSSLError.clearQueue()
        let ok = "digest".withCString { paramName in
            algorithm.openSSLName.withCString { digestName in
                var params = [
                    OSSL_PARAM_construct_utf8_string(paramName, UnsafeMutablePointer(mutating: digestName), 0),
                    OSSL_PARAM_construct_end(),
                ]
                // An empty key is legal HMAC; OpenSSL wants a non-null pointer for it.
                let keyBytes = key.isEmpty ? [0] : key
                return keyBytes.withUnsafeBufferPointer { keyBuffer in
                    EVP_MAC_init(ctx, keyBuffer.baseAddress, key.count, &params)
                }
            }
        }
        precondition(ok == 1, "EVP_MAC_init failed: \(OpenSSLError.drainStrings())")
    }

    deinit {
        EVP_MAC_CTX_free(self.ctx)
    }

    func compute(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        OpenSSLError.clearQueue()
        guard let work = EVP_MAC_CTX_dup(self.ctx) else {
            fatalError("EVP_MAC_CTX_dup failed: \(OpenSSLError.drainStrings())")
        }
        defer { EVP_MAC_CTX_free(work) }
        let size = self.outputSize
        return [UInt8](unsafeUninitializedCapacity: size) { output, count in
            var written = 0
            let updated = data.isEmpty
                ? 1 : EVP_MAC_update(work, data.baseAddress!.assumingMemoryBound(to: UInt8.self), data.count)
            let finished = EVP_MAC_final(work, output.baseAddress, &written, size)
            precondition(updated == 1 && finished == 1 && written == size,
                         "HMAC computation failed: \(OpenSSLError.drainStrings())")
            count = size
        }
    }
}
