internal import COpenSSL
internal import NIOCore

/// Owns one `SSL` and its two memory BIOs (freed with it), for exactly one TCP connection.
///
/// Network bytes go in through `networkInput` and come out of `networkOutput`; the handler moves
/// them between the channel and OpenSSL. Every operation clears the thread's error queue first,
/// so failures report only their own errors. Not thread-safe: lives on the channel's event loop.
final class SSLConnection {
    private let ssl: OpaquePointer
    private let networkInput: OpaquePointer
    private let networkOutput: OpaquePointer
    /// Keeps the context and its callback state alive as long as this `SSL` can call back into it.
    private let owner: AnyObject

    /// Result of one step of a non-blocking operation.
    enum Step {
        case complete
        case wantsMoreInput
        case closeNotify
        case failed(OpenSSLError)
    }

    init(context: SSLContextHandle, owner: AnyObject, isServer: Bool) throws {
        OpenSSLError.clearQueue()
        guard let ssl = SSL_new(context.ctx) else {
            throw TLSError.invalidConfiguration(OpenSSLError.drain("creating an SSL connection").description)
        }
        guard let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.invalidConfiguration(OpenSSLError.drain("creating memory BIOs").description)
        }
        // An empty input BIO means "no data yet" (retry), not end of file.
        _ = CPortcullis_BIO_set_mem_eof_return(input, -1)
        _ = CPortcullis_BIO_set_mem_eof_return(output, -1)
        SSL_set_bio(ssl, input, output)  // the SSL now owns both BIOs
        if isServer { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
        self.ssl = ssl
        self.networkInput = input
        self.networkOutput = output
        self.owner = owner
    }

    deinit {
        SSL_free(self.ssl)
    }

    // MARK: Client-side setup

    /// SNI (omitted for IP literals, as RFC 6066 requires) and, if asked, host name verification.
    func configureClient(serverHostname: String?, verifyHostname: Bool) throws {
        guard let serverHostname else { return }
        let isIPAddress = serverHostname.contains(":")
            || (serverHostname.split(separator: ".").count == 4 && serverHostname.allSatisfy { $0.isNumber || $0 == "." })
        OpenSSLError.clearQueue()
        if !isIPAddress {
            guard CPortcullis_SSL_set_tlsext_host_name(self.ssl, serverHostname) == 1 else {
                throw TLSError.invalidConfiguration("invalid SNI host name \"\(serverHostname)\"")
            }
        }
        guard verifyHostname else { return }
        let ok = isIPAddress
            ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(self.ssl), serverHostname)
            : SSL_set1_host(self.ssl, serverHostname)
        guard ok == 1 else {
            throw TLSError.invalidConfiguration("cannot verify host name \"\(serverHostname)\"")
        }
    }

    // MARK: Moving bytes

    /// Hands bytes received from the network to OpenSSL. Memory BIOs grow, so this never blocks.
    func receive(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            let written = BIO_write(self.networkInput, base, Int32(bytes.count))
            precondition(written == Int32(bytes.count), "memory BIO refused \(bytes.count) bytes")
        }
    }

    /// TLS records waiting to go to the network, if any.
    func takeOutput(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = Int(BIO_ctrl_pending(self.networkOutput))
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: pending)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { space in
            Int(BIO_read(self.networkOutput, space.baseAddress, Int32(pending)))
        }
        return buffer
    }

    // MARK: TLS operations

    func handshake() -> Step {
        OpenSSLError.clearQueue()
        let result = SSL_do_handshake(self.ssl)
        if result == 1 { return .complete }
        return self.classify(result, operation: "performing the TLS handshake", includeVerifyResult: true)
    }

    /// Decrypts one chunk of application data into `buffer`; `.complete` means bytes were added.
    func read(into buffer: inout ByteBuffer) -> Step {
        OpenSSLError.clearQueue()
        var result: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 16 * 1024) { space in
            result = SSL_read(self.ssl, space.baseAddress, Int32(clamping: space.count))
            return max(Int(result), 0)
        }
        if result > 0 { return .complete }
        return self.classify(result, operation: "reading TLS data", includeVerifyResult: false)
    }

    /// Encrypts all of `buffer`. With a memory BIO underneath, a write either completes or fails.
    func write(_ buffer: ByteBuffer) -> Step {
        guard buffer.readableBytes > 0 else { return .complete }
        OpenSSLError.clearQueue()
        let result = buffer.withUnsafeReadableBytes { bytes in
            SSL_write(self.ssl, bytes.baseAddress, Int32(clamping: bytes.count))
        }
        if result == Int32(buffer.readableBytes) { return .complete }
        return self.classify(result, operation: "writing TLS data", includeVerifyResult: false)
    }

    /// Queues our close_notify. `.complete` when the peer's close_notify had already arrived.
    func shutdown() -> Step {
        OpenSSLError.clearQueue()
        let result = SSL_shutdown(self.ssl)
        switch result {
        case 1: return .complete
        case 0: return .wantsMoreInput
        default: return self.classify(result, operation: "closing the TLS session", includeVerifyResult: false)
        }
    }

    private func classify(_ result: Int32, operation: String, includeVerifyResult: Bool) -> Step {
        switch SSL_get_error(self.ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wantsMoreInput
        case SSL_ERROR_ZERO_RETURN:
            return .closeNotify
        default:
            var errors = OpenSSLError.drainStrings()
            if includeVerifyResult {
                let verify = SSL_get_verify_result(self.ssl)
                if verify != X509_V_OK {
                    errors.append("certificate verify failed: " + String(cString: X509_verify_cert_error_string(verify)))
                }
            }
            if errors.isEmpty { errors.append("connection closed by peer") }
            return .failed(OpenSSLError(operation: operation, errors: errors))
        }
    }

    // MARK: Session facts

    func handshakeSummary(includeClientCertificate: Bool) -> TLSHandshakeCompleted {
        let version = String(cString: SSL_get_version(self.ssl))
        let cipher = SSL_get_current_cipher(self.ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? ""
        var alpnPointer: UnsafePointer<UInt8>? = nil
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(self.ssl, &alpnPointer, &alpnLength)
        let alpn = alpnPointer.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(alpnLength)), as: UTF8.self) }
        let serverName = SSL_get_servername(self.ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
        var certificate: ClientCertificate? = nil
        if includeClientCertificate, let peer = SSL_get1_peer_certificate(self.ssl) {
            defer { X509_free(peer) }
            // Only a certificate that verified is reported; with `.optional` an unverifiable one
            // already failed the handshake, so this is belt and braces.
            if SSL_get_verify_result(self.ssl) == X509_V_OK {
                certificate = ClientCertificate(x509: peer)
            }
        }
        return TLSHandshakeCompleted(
            protocolVersion: version, cipher: cipher, alpn: alpn.flatMap { $0.isEmpty ? nil : $0 },
            serverName: serverName, clientCertificate: certificate)
    }
}
