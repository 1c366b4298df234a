internal import COpenSSL

/// A client certificate that verified against the listener's client CA (mutual TLS).
///
/// Plain strings, so authorizers, policies and upstream headers can use it without OpenSSL.
public struct ClientCertificate: Sendable, Hashable {
    /// RFC 2253 subject ("CN=demo-client,O=Portcullis Dev").
    public var subject: String
    /// RFC 2253 issuer.
    public var issuer: String
    /// Serial number, upper-case hex.
    public var serialNumber: String
    /// `DNS:`, `IP:`, `email:` and `URI:` entries, in certificate order.
    public var subjectAlternativeNames: [String]
    /// Validity start, ISO 8601 UTC.
    public var notBefore: String
    /// Validity end, ISO 8601 UTC.
    public var notAfter: String
    /// SHA-256 of the DER certificate, lower-case hex.
    public var sha256Fingerprint: String
    /// The leaf certificate as PEM.
    public var pem: String

    public init(
        subject: String, issuer: String, serialNumber: String, subjectAlternativeNames: [String],
        notBefore: String, notAfter: String, sha256Fingerprint: String, pem: String
    ) {
        self.subject = subject
        self.issuer = issuer
        self.serialNumber = serialNumber
        self.subjectAlternativeNames = subjectAlternativeNames
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.sha256Fingerprint = sha256Fingerprint
        self.pem = pem
    }

    /// Reads the fields of a borrowed `X509`.
    init(x509: OpaquePointer) {
        self.init(
            subject: X509Inspection.rfc2253(X509_get_subject_name(x509)),
            issuer: X509Inspection.rfc2253(X509_get_issuer_name(x509)),
            serialNumber: X509Inspection.serialHex(x509),
            subjectAlternativeNames: X509Inspection.subjectAlternativeNames(x509),
            notBefore: X509Inspection.iso8601(X509_get0_notBefore(x509)),
            notAfter: X509Inspection.iso8601(X509_get0_notAfter(x509)),
            sha256Fingerprint: X509Inspection.sha256Fingerprint(x509),
            pem: X509Inspection.pem(x509)
        )
    }
}

/// Fired as a user inbound event once the handshake has finished, before any application data.
public struct TLSHandshakeCompleted: Sendable, Hashable {
    /// "TLSv1.2" or "TLSv1.3".
    public var protocolVersion: String
    /// OpenSSL's name of the negotiated cipher ("TLS_AES_128_GCM_SHA256").
    public var cipher: String
    /// The ALPN protocol agreed on, if any.
    public var alpn: String?
    /// The SNI host name the client sent, if any.
    public var serverName: String?
    /// The verified client certificate (server side, when client auth is on and one was sent).
    public var clientCertificate: ClientCertificate?

    public init(protocolVersion: String, cipher: String, alpn: String?, serverName: String?, clientCertificate: ClientCertificate?) {
        self.protocolVersion = protocolVersion
        self.cipher = cipher
        self.alpn = alpn
        self.serverName = serverName
        self.clientCertificate = clientCertificate
    }
}
