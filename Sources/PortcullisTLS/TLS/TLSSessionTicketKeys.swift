internal import COpenSSL

/// Session ticket keys that rotate in process and survive configuration reloads.
///
/// Keys are not stored but *derived*: for each rotation epoch (`elapsed seconds / interval`) the
/// key name, AES-256-CBC key and HMAC-SHA-256 key are HMAC-SHA-256 of a random master secret and
/// the epoch. New tickets use the current epoch; tickets of the previous epoch still decrypt (and
/// are renewed); older ones are ignored, so a ticket is good for one to two intervals. Derivation
/// needs no mutable state, hence no lock on the handshake path.
///
/// Give the same instance to every ``TLSServerContext`` built for a listener (including the ones a
/// reload builds) so that clients resume across reloads. Without one, OpenSSL's built-in tickets
/// are used, with a random key per context.
public final class TLSSessionTicketKeys: Sendable {
    public let rotationIntervalSeconds: Int64
    private let master: HMACKey
    private let elapsedSeconds: @Sendable () -> Int64

    /// - Parameters:
    ///   - rotationIntervalSeconds: how long one key encrypts new tickets (default 12 hours).
    ///   - masterSecret: 32 or more secret bytes; random by default. Sharing it (for instance
    ///     between instances behind one load balancer) lets them resume each other's sessions.
    ///   - elapsedSeconds: a clock in seconds, injectable for tests; monotonic by default.
    public init(
        rotationIntervalSeconds: Int64 = 12 * 3600,
        masterSecret: [UInt8] = SecureRandom.bytes(32),
        elapsedSeconds: (@Sendable () -> Int64)? = nil
    ) {
        precondition(rotationIntervalSeconds > 0, "rotation interval must be positive")
        precondition(masterSecret.count >= 32, "ticket master secret must be at least 32 bytes")
        self.rotationIntervalSeconds = rotationIntervalSeconds
        self.master = HMACKey(algorithm: .sha256, key: masterSecret)
        if let elapsedSeconds {
            self.elapsedSeconds = elapsedSeconds
        } else {
            let origin = ContinuousClock.now
            self.elapsedSeconds = { origin.duration(to: .now).components.seconds }
        }
    }

    struct Key {
        var name: [UInt8]  // 16 bytes, sent in the clear inside the ticket
        var cipherKey: [UInt8]  // 32 bytes
        var macKey: [UInt8]  // 32 bytes
    }

    var currentEpoch: Int64 {
        self.elapsedSeconds() / self.rotationIntervalSeconds
    }

    func key(forEpoch epoch: Int64) -> Key {
        func derive(_ label: String) -> [UInt8] {
            var input = Array(label.utf8)
            withUnsafeBytes(of: epoch.bigEndian) { input.append(contentsOf: $0) }
            return self.master.authenticationCode(for: input)
        }
        return Key(name: Array(derive("ticket name").prefix(16)), cipherKey: derive("ticket aes"), macKey: derive("ticket hmac"))
    }

    /// Makes `handle` issue and accept tickets with these keys. The context's owner must retain
    /// `self` for as long as the context can run handshakes (OpenSSL holds an unretained pointer).
    func install(on handle: SSLContextHandle) {
        _ = SSL_CTX_set_ex_data(handle.ctx, TicketKeysSlot.index, Unmanaged.passUnretained(self).toOpaque())
        _ = SSL_CTX_set_tlsext_ticket_key_evp_cb(handle.ctx, ticketKeyCallback)
    }
}

/// The SSL_CTX ex_data slot holding the ``TLSSessionTicketKeys`` pointer (the ticket callback has
/// no argument of its own), and the AES-256-CBC implementation, each fetched once.
///
/// `@unchecked Sendable`: both values are immutable after first use.
final class TicketKeysSlot: @unchecked Sendable {
    let cipher: OpaquePointer

    private init() {
        guard let cipher = EVP_CIPHER_fetch(nil, "AES-256-CBC", nil) else {
            fatalError("EVP_CIPHER_fetch(AES-256-CBC) failed: \(OpenSSLError.drainStrings())")
        }
        self.cipher = cipher
    }

    static let shared = TicketKeysSlot()
    static let index: Int32 = CPortcullis_SSL_CTX_get_ex_new_index()
}

/// OpenSSL's ticket key callback: `encrypt == 1` to issue (return 1), else to accept: 1 for the
/// current key, 2 for the previous one (accept and renew), 0 for unknown (full handshake).
private func ticketKeyCallback(
    _ ssl: OpaquePointer?, _ keyName: UnsafeMutablePointer<UInt8>?, _ iv: UnsafeMutablePointer<UInt8>?,
    _ cipherContext: OpaquePointer?, _ macContext: OpaquePointer?, _ encrypt: Int32
) -> Int32 {
    guard let ssl, let keyName, let iv, let cipherContext, let macContext,
        let ctx = SSL_get_SSL_CTX(ssl), let raw = SSL_CTX_get_ex_data(ctx, TicketKeysSlot.index)
    else { return -1 }
    let keys = Unmanaged<TLSSessionTicketKeys>.fromOpaque(raw).takeUnretainedValue()
    let cipher = TicketKeysSlot.shared.cipher
    let epoch = keys.currentEpoch

    if encrypt == 1 {
        let key = keys.key(forEpoch: epoch)
        key.name.withUnsafeBufferPointer { keyName.update(from: $0.baseAddress!, count: 16) }
        guard RAND_bytes(iv, 16) == 1,
            EVP_EncryptInit_ex(cipherContext, cipher, nil, key.cipherKey, iv) == 1,
            setTicketMACKey(macContext, key.macKey)
        else { return -1 }
        return 1
    }

    let presented = Array(UnsafeBufferPointer(start: keyName, count: 16))
    for (age, verdict) in [(Int64(0), Int32(1)), (1, 2)] {
        let key = keys.key(forEpoch: epoch - age)
        guard key.name == presented else { continue }
        guard EVP_DecryptInit_ex(cipherContext, cipher, nil, key.cipherKey, iv) == 1,
            setTicketMACKey(macContext, key.macKey)
        else { return -1 }
        return verdict
    }
    return 0
}

private func setTicketMACKey(_ macContext: OpaquePointer, _ key: [UInt8]) -> Bool {
    var key = key
    return "key".withCString { keyParam in
        "digest".withCString { digestParam in
            "SHA2-256".withCString { digestName in
                key.withUnsafeMutableBytes { keyBytes in
                    var params = [
                        OSSL_PARAM_construct_octet_string(keyParam, keyBytes.baseAddress, keyBytes.count),
                        OSSL_PARAM_construct_utf8_string(digestParam, UnsafeMutablePointer(mutating: digestName), 0),
                        OSSL_PARAM_construct_end(),
                    ]
                    return EVP_MAC_CTX_set_params(macContext, &params) == 1
                }
            }
        }
    }
}
