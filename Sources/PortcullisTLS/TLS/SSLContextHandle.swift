internal import COpenSSL

/// Owns one `SSL_CTX`.
///
/// `@unchecked Sendable`: a context is fully configured inside the builders below, before any
/// connection exists, and only read afterwards (`SSL_new`, which OpenSSL documents as safe to call
/// concurrently on a shared context). Nothing mutates it after construction.
final class SSLContextHandle: @unchecked Sendable {
    let ctx: OpaquePointer

    init(server: Bool) throws {
        OpenSSLError.clearQueue()
        guard let ctx = SSL_CTX_new_ex(nil, nil, server ? TLS_server_method() : TLS_client_method()) else {
            throw TLSError.invalidConfiguration(OpenSSLError.drain("creating an SSL_CTX").description)
        }
        self.ctx = ctx
        // Never prompt on the terminal for a passphrase: encrypted keys fail to load instead.
        SSL_CTX_set_default_passwd_cb(ctx) { _, _, _, _ in 0 }
    }

    deinit {
        SSL_CTX_free(self.ctx)
    }

    /// Version floor, renegotiation off, no compression, cipher lists.
    func applyProtocolSettings(minimumVersion: TLSVersion, cipherList: String, tls13Suites: String?, groups: String? = nil) throws {
        OpenSSLError.clearQueue()
        let floor = minimumVersion == .tls13 ? TLS1_3_VERSION : TLS1_2_VERSION
        guard CPortcullis_SSL_CTX_set_min_proto_version(self.ctx, floor) == 1 else {
            throw TLSError.invalidConfiguration(OpenSSLError.drain("setting the minimum TLS version").description)
        }
        // Renegotiation is refused in both directions: it has a long record of attacks, and no
        // client needs it (TLS 1.3 replaced it with post-handshake auth and key update).
        _ = CPortcullis_SSL_CTX_set_options(
            self.ctx, CPortcullis_SSL_OP_NO_RENEGOTIATION() | CPortcullis_SSL_OP_NO_COMPRESSION())
        // Idle keep-alive connections give their 34 KiB of record buffers back.
        _ = CPortcullis_SSL_CTX_set_mode(self.ctx, Int(SSL_MODE_RELEASE_BUFFERS))
        _ = CPortcullis_SSL_CTX_set_dh_auto(self.ctx, 1)
        guard SSL_CTX_set_cipher_list(self.ctx, cipherList) == 1 else {
            throw TLSError.invalidConfiguration(
                "cipher list \"\(cipherList)\": \(OpenSSLError.drain("setting the cipher list").errors.joined(separator: "; "))")
        }
        if let groups {
            // Key-exchange groups offered, in preference order (both TLS 1.2 ECDHE and TLS 1.3).
            guard CPortcullis_SSL_CTX_set1_groups_list(self.ctx, groups) == 1 else {
                throw TLSError.invalidConfiguration(
                    "groups \"\(groups)\": \(OpenSSLError.drainStrings().joined(separator: "; ")) (names like X25519, P-256, P-384, X448, P-521)")
            }
        }
        if let tls13Suites {
            guard SSL_CTX_set_ciphersuites(self.ctx, tls13Suites) == 1 else {
                throw TLSError.invalidConfiguration(
                    "TLS 1.3 suites \"\(tls13Suites)\": \(OpenSSLError.drainStrings().joined(separator: "; "))")
            }
        }
    }

    /// Loads a certificate chain and its key, and checks that they belong together.
    func useCertificate(_ source: TLSCertificateSource) throws {
        let certificatePath = source.certificateChainPEMPath
        let keyPath = source.privateKeyPEMPath
        OpenSSLError.clearQueue()
        guard SSL_CTX_use_certificate_chain_file(self.ctx, certificatePath) == 1 else {
            throw TLSError.certificate(
                path: certificatePath,
                reason: "cannot load certificate chain: " + Self.reason(OpenSSLError.drainStrings()))
        }
        guard SSL_CTX_use_PrivateKey_file(self.ctx, keyPath, SSL_FILETYPE_PEM) == 1 else {
            let errors = OpenSSLError.drainStrings()
            // OpenSSL reports a key that does not match the loaded certificate while loading it.
            if errors.contains(where: { $0.contains("key values mismatch") }) {
                throw TLSError.certificate(
                    path: keyPath, reason: "private key does not match the certificate in \(certificatePath)")
            }
            throw TLSError.certificate(path: keyPath, reason: "cannot load private key: " + Self.reason(errors))
        }
        guard SSL_CTX_check_private_key(self.ctx) == 1 else {
            _ = OpenSSLError.drainStrings()
            throw TLSError.certificate(
                path: keyPath, reason: "private key does not match the certificate in \(certificatePath)")
        }
    }

    /// Trust anchors for verifying the peer.
    func loadVerifyLocations(file: String) throws {
        OpenSSLError.clearQueue()
        guard SSL_CTX_load_verify_locations(self.ctx, file, nil) == 1 else {
            throw TLSError.certificate(path: file, reason: "cannot load CA bundle: " + Self.reason(OpenSSLError.drainStrings()))
        }
    }

    /// ALPN wire format: each protocol as a length byte and its bytes.
    static func alpnWireFormat(_ protocols: [String]) throws -> [UInt8] {
        var wire: [UInt8] = []
        for name in protocols {
            let bytes = Array(name.utf8)
            guard !bytes.isEmpty, bytes.count <= 255 else {
                throw TLSError.invalidConfiguration("ALPN protocol name \"\(name)\" must be 1 to 255 bytes")
            }
            wire.append(UInt8(bytes.count))
            wire.append(contentsOf: bytes)
        }
        return wire
    }

    private static func reason(_ errors: [String]) -> String {
        errors.isEmpty ? "unknown OpenSSL error" : errors.joined(separator: "; ")
    }
}
