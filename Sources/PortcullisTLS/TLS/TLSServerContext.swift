internal import COpenSSL

/// Everything a TLS listener needs to accept connections, built once from a configuration and
/// shared by every event loop. A reload builds a new context; connections keep the one they
/// started with (each connection retains its context), so open connections are untouched.
///
/// One `SSL_CTX` per certificate. Connections start on the first (default) one; the SNI callback
/// moves a connection to the context whose certificate names match the requested host.
///
/// Session resumption: OpenSSL's in-memory server session cache, plus session tickets when
/// enabled. Ticket keys come from `sessionTicketKeys` when given (rotated in process, shared
/// across reloads); otherwise OpenSSL's built-in per-context random key is used.
public final class TLSServerContext: Sendable {
    public let configuration: TLSServerConfiguration
    let selector: CertificateSelector
    /// Retained here because OpenSSL holds only an unretained pointer to it.
    let sessionTicketKeys: TLSSessionTicketKeys?

    public init(_ configuration: TLSServerConfiguration, sessionTicketKeys: TLSSessionTicketKeys? = nil) throws {
        guard !configuration.certificates.isEmpty else {
            throw TLSError.invalidConfiguration("at least one certificate is required")
        }
        if configuration.clientAuthentication != .none, configuration.clientCAPath == nil {
            throw TLSError.invalidConfiguration("client authentication needs a client CA file (clientCAPath)")
        }
        let alpnWire = try SSLContextHandle.alpnWireFormat(configuration.alpn)
        var entries: [CertificateSelector.Entry] = []
        let ticketKeys = configuration.sessionTickets ? sessionTicketKeys : nil
        for source in configuration.certificates {
            let handle = try Self.makeContext(for: source, configuration)
            ticketKeys?.install(on: handle)
            guard let leaf = SSL_CTX_get0_certificate(handle.ctx) else {
                throw TLSError.certificate(path: source.certificateChainPEMPath, reason: "no certificate in file")
            }
            entries.append(CertificateSelector.Entry(context: handle, names: X509Inspection.serverDNSNames(leaf)))
        }
        self.configuration = configuration
        self.sessionTicketKeys = ticketKeys
        self.selector = CertificateSelector(entries: entries, alpnWire: alpnWire)
        self.selector.installCallbacks()
    }

    /// The DNS names (SAN, or CN without SAN) of each configured certificate, in order.
    public var certificateNames: [[String]] {
        self.selector.entries.map(\.names)
    }

    /// The index of the certificate a handshake for `serverName` would use (0 = default).
    public func certificateIndex(forServerName serverName: String?) -> Int {
        self.selector.index(for: serverName)
    }

    var defaultContext: SSLContextHandle { self.selector.entries[0].context }

    private static func makeContext(for source: TLSCertificateSource, _ configuration: TLSServerConfiguration) throws -> SSLContextHandle {
        let handle = try SSLContextHandle(server: true)
        try handle.applyProtocolSettings(
            minimumVersion: configuration.minimumVersion, cipherList: configuration.cipherList,
            tls13Suites: configuration.tls13CipherSuites, groups: configuration.groups)
        try handle.useCertificate(source)
        // Resumed sessions must come from this listener: a fixed id context also keeps resumption
        // working when client certificates are requested (OpenSSL refuses it otherwise).
        let sessionContext = Array("portcullis".utf8)
        _ = SSL_CTX_set_session_id_context(handle.ctx, sessionContext, UInt32(sessionContext.count))
        _ = CPortcullis_SSL_CTX_set_session_cache_mode(handle.ctx, Int(SSL_SESS_CACHE_SERVER))
        if !configuration.sessionTickets {
            _ = CPortcullis_SSL_CTX_set_options(handle.ctx, CPortcullis_SSL_OP_NO_TICKET())
            _ = SSL_CTX_set_num_tickets(handle.ctx, 0)
        }
        switch configuration.clientAuthentication {
        case .none:
            SSL_CTX_set_verify(handle.ctx, SSL_VERIFY_NONE, nil)
        case .optional, .require:
            let caPath = configuration.clientCAPath!
            try handle.loadVerifyLocations(file: caPath)
            OpenSSLError.clearQueue()
            guard let names = SSL_load_client_CA_file(caPath) else {
                throw TLSError.certificate(
                    path: caPath, reason: "no CA names: " + OpenSSLError.drainStrings().joined(separator: "; "))
            }
            SSL_CTX_set_client_CA_list(handle.ctx, names)  // takes ownership of `names`
            let mode = configuration.clientAuthentication == .require
                ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER
            SSL_CTX_set_verify(handle.ctx, mode, nil)
        }
        return handle
    }
}

/// The SNI and ALPN callbacks' state: the per-certificate contexts and the ALPN list.
///
/// OpenSSL gets an unretained pointer to this object as callback argument. That is safe because
/// every connection retains its `TLSServerContext` (which owns this selector) for as long as its
/// `SSL` exists, and the callbacks only run inside that connection's `SSL_do_handshake`.
///
/// `@unchecked Sendable`: everything is immutable after `init`; `alpnStorage` is a private copy
/// of the ALPN wire list at a fixed address, because OpenSSL may point into it while selecting.
final class CertificateSelector: @unchecked Sendable {
    struct Entry: Sendable {
        let context: SSLContextHandle
        /// Lower-cased names; `*.example.com` entries match exactly one extra left-most label.
        let names: [String]
    }

    let entries: [Entry]
    private let alpnStorage: UnsafeMutableBufferPointer<UInt8>
    private let alpnLength: Int

    init(entries: [Entry], alpnWire: [UInt8]) {
        self.entries = entries
        self.alpnStorage = .allocate(capacity: max(alpnWire.count, 1))
        _ = self.alpnStorage.initialize(from: alpnWire)
        self.alpnLength = alpnWire.count
    }

    var alpnWire: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: self.alpnStorage[0..<self.alpnLength])
    }

    deinit {
        self.alpnStorage.deallocate()
    }

    func installCallbacks() {
        let argument = Unmanaged.passUnretained(self).toOpaque()
        let defaultContext = self.entries[0].context.ctx
        _ = CPortcullis_SSL_CTX_set_tlsext_servername_callback(defaultContext, serverNameCallback)
        _ = CPortcullis_SSL_CTX_set_tlsext_servername_arg(defaultContext, argument)
        if self.alpnLength > 0 {
            // ALPN is decided on the context the connection ends up on, so every one gets it.
            for entry in self.entries {
                SSL_CTX_set_alpn_select_cb(entry.context.ctx, alpnSelectCallback, argument)
            }
        }
    }

    /// Exact names first (in certificate order), then wildcards, else the default (0).
    func index(for serverName: String?) -> Int {
        guard var name = serverName?.lowercased(), !name.isEmpty else { return 0 }
        if name.hasSuffix(".") { name.removeLast() }
        if let exact = self.entries.firstIndex(where: { $0.names.contains(name) }) {
            return exact
        }
        guard let dot = name.firstIndex(of: "."), dot != name.startIndex else { return 0 }
        let wildcard = "*" + name[dot...]
        return self.entries.firstIndex(where: { $0.names.contains(wildcard) }) ?? 0
    }
}

private func serverNameCallback(
    _ ssl: OpaquePointer?, _ alert: UnsafeMutablePointer<Int32>?, _ argument: UnsafeMutableRawPointer?
) -> Int32 {
    guard let ssl, let argument else { return SSL_TLSEXT_ERR_OK }
    let selector = Unmanaged<CertificateSelector>.fromOpaque(argument).takeUnretainedValue()
    let requested = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
    let index = selector.index(for: requested)
    if index != 0 {
        _ = SSL_set_SSL_CTX(ssl, selector.entries[index].context.ctx)
    }
    return SSL_TLSEXT_ERR_OK
}

private func alpnSelectCallback(
    _ ssl: OpaquePointer?,
    _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
    _ outLength: UnsafeMutablePointer<UInt8>?,
    _ clientList: UnsafePointer<UInt8>?,
    _ clientLength: UInt32,
    _ argument: UnsafeMutableRawPointer?
) -> Int32 {
    guard let out, let outLength, let clientList, let argument else { return SSL_TLSEXT_ERR_NOACK }
    let selector = Unmanaged<CertificateSelector>.fromOpaque(argument).takeUnretainedValue()
    let server = selector.alpnWire
    do {
        var chosen: UnsafeMutablePointer<UInt8>? = nil
        let result = SSL_select_next_proto(
            &chosen, outLength, server.baseAddress, UInt32(server.count), clientList, clientLength)
        // With no overlap, go on without ALPN rather than failing: an HTTP/1.1 client that also
        // offers h2 first still works, and one offering something else entirely gets no answer.
        guard result == OPENSSL_NPN_NEGOTIATED, let chosen else { return SSL_TLSEXT_ERR_NOACK }
        // `chosen` points into `alpnWire` or the client's list; both outlive the handshake step.
        out.pointee = UnsafePointer(chosen)
        return SSL_TLSEXT_ERR_OK
    }
}
