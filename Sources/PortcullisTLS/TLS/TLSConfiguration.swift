/// Protocol versions Portcullis will negotiate. Nothing older than TLS 1.2 is offered.
public enum TLSVersion: Sendable, Hashable, Comparable {
    case tls12
    case tls13
}

/// Where one certificate chain and its private key live (PEM files).
public struct TLSCertificateSource: Sendable, Hashable {
    /// Leaf first, then intermediates.
    public var certificateChainPEMPath: String
    /// The leaf's private key, unencrypted PEM (PKCS#8 or traditional).
    public var privateKeyPEMPath: String

    public init(certificateChainPEMPath: String, privateKeyPEMPath: String) {
        self.certificateChainPEMPath = certificateChainPEMPath
        self.privateKeyPEMPath = privateKeyPEMPath
    }
}

/// Whether the server asks for, and insists on, a client certificate (mutual TLS).
public enum TLSClientAuthentication: Sendable, Hashable {
    /// No certificate is requested.
    case none
    /// A certificate is requested; a presented one must verify against the client CA.
    case optional
    /// The handshake fails without a certificate that verifies against the client CA.
    case require
}

/// Immutable settings of one TLS listener.
public struct TLSServerConfiguration: Sendable, Hashable {
    /// Mozilla's "intermediate" TLS 1.2 cipher list (ECDHE and DHE with AEAD only).
    public static let intermediateCipherList = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// Mozilla's "intermediate" key-exchange groups, in preference order. OpenSSL's default list
    /// also offers X448 and P-521, which that profile does not list (sslyze flags them).
    public static let intermediateGroups = "X25519:P-256:P-384"

    /// Certificates to serve; the first is the default when SNI matches none (or is absent).
    public var certificates: [TLSCertificateSource]
    public var minimumVersion: TLSVersion
    /// OpenSSL cipher string for TLS 1.2.
    public var cipherList: String
    /// TLS 1.3 suites (`SSL_CTX_set_ciphersuites`); `nil` keeps OpenSSL's default (all three AEADs).
    public var tls13CipherSuites: String?
    /// Key-exchange groups (`SSL_CTX_set1_groups_list`), colon-separated, preferred first.
    public var groups: String
    public var clientAuthentication: TLSClientAuthentication
    /// PEM bundle of CAs that client certificates must chain to (required unless `.none`).
    public var clientCAPath: String?
    /// ALPN protocols offered, in preference order.
    public var alpn: [String]
    /// Stateless resumption with tickets. Keys come from the ``TLSSessionTicketKeys`` given to
    /// ``TLSServerContext`` (rotated in process, kept across reloads), or else are OpenSSL's
    /// built-in random key per context. The server-side session cache stays on either way.
    public var sessionTickets: Bool

    public init(
        certificates: [TLSCertificateSource],
        minimumVersion: TLSVersion = .tls12,
        cipherList: String = TLSServerConfiguration.intermediateCipherList,
        tls13CipherSuites: String? = nil,
        groups: String = TLSServerConfiguration.intermediateGroups,
        clientAuthentication: TLSClientAuthentication = .none,
        clientCAPath: String? = nil,
        alpn: [String] = ["http/1.1"],
        sessionTickets: Bool = true
    ) {
        self.certificates = certificates
        self.minimumVersion = minimumVersion
        self.cipherList = cipherList
        self.tls13CipherSuites = tls13CipherSuites
        self.groups = groups
        self.clientAuthentication = clientAuthentication
        self.clientCAPath = clientCAPath
        self.alpn = alpn
        self.sessionTickets = sessionTickets
    }
}

/// Which CAs a TLS client trusts.
public enum TLSTrustRoots: Sendable, Hashable {
    /// The system store (OpenSSL's default verify paths, i.e. /etc/ssl/certs on Debian).
    case system
    /// A PEM bundle.
    case file(String)
}

/// Immutable settings for outgoing TLS (upstreams, JWKS fetches, external authorizers).
public struct TLSClientConfiguration: Sendable, Hashable {
    public var trustRoots: TLSTrustRoots
    /// A client certificate for upstreams that require mutual TLS.
    public var certificate: TLSCertificateSource?
    /// Check the server certificate's names against the host name given to the handler.
    public var verifyHostname: Bool
    public var alpn: [String]
    public var minimumVersion: TLSVersion
    public var cipherList: String

    /// Test hook: pins the client to an exact protocol version (given as OpenSSL's version
    /// constant) and lowers the security level, to prove that servers refuse old versions.
    var forcedProtocolVersionForTesting: Int32? = nil

    public init(
        trustRoots: TLSTrustRoots = .system,
        certificate: TLSCertificateSource? = nil,
        verifyHostname: Bool = true,
        alpn: [String] = [],
        minimumVersion: TLSVersion = .tls12,
        cipherList: String = TLSServerConfiguration.intermediateCipherList
    ) {
        self.trustRoots = trustRoots
        self.certificate = certificate
        self.verifyHostname = verifyHostname
        self.alpn = alpn
        self.minimumVersion = minimumVersion
        self.cipherList = cipherList
    }
}
