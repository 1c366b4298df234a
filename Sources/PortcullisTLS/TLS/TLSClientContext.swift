internal import COpenSSL

/// Shared, immutable client-side TLS settings (one `SSL_CTX`), for upstream connections, JWKS
/// fetches and external authorizers. Per-connection details (host name) go to the handler.
public final class TLSClientContext: Sendable {
    public let configuration: TLSClientConfiguration
    let handle: SSLContextHandle

    public init(_ configuration: TLSClientConfiguration) throws {
        let handle = try SSLContextHandle(server: false)
        try handle.applyProtocolSettings(
            minimumVersion: configuration.minimumVersion, cipherList: configuration.cipherList, tls13Suites: nil)
        if let forced = configuration.forcedProtocolVersionForTesting {
            _ = CPortcullis_SSL_CTX_set_min_proto_version(handle.ctx, forced)
            _ = CPortcullis_SSL_CTX_set_max_proto_version(handle.ctx, forced)
            SSL_CTX_set_security_level(handle.ctx, 0)
        }
        switch configuration.trustRoots {
        case .system:
            OpenSSLError.clearQueue()
            guard SSL_CTX_set_default_verify_paths(handle.ctx) == 1 else {
                throw TLSError.invalidConfiguration(OpenSSLError.drain("loading the system CA store").description)
            }
        case .file(let path):
            try handle.loadVerifyLocations(file: path)
        }
        SSL_CTX_set_verify(handle.ctx, SSL_VERIFY_PEER, nil)
        if let certificate = configuration.certificate {
            try handle.useCertificate(certificate)
        }
        let alpn = try SSLContextHandle.alpnWireFormat(configuration.alpn)
        if !alpn.isEmpty {
            // Unlike most OpenSSL calls, SSL_CTX_set_alpn_protos returns 0 on success.
            guard SSL_CTX_set_alpn_protos(handle.ctx, alpn, UInt32(alpn.count)) == 0 else {
                throw TLSError.invalidConfiguration("cannot set ALPN protocols \(configuration.alpn)")
            }
        }
        self.configuration = configuration
        self.handle = handle
    }
}
