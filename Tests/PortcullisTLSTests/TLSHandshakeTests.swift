import Foundation
import NIOCore
import NIOEmbedded
@testable import PortcullisTLS
import Testing

@Suite("TLS in memory: server and client handlers on EmbeddedChannels")
struct TLSHandshakeTests {
    let certs = TestCertificates.shared

    func serverContext(
        clientAuthentication: TLSClientAuthentication = .none, minimumVersion: TLSVersion = .tls12
    ) throws -> TLSServerContext {
        try TLSServerContext(TLSServerConfiguration(
            certificates: [self.certs.source("server"), self.certs.source("other")],
            minimumVersion: minimumVersion,
            clientAuthentication: clientAuthentication,
            clientCAPath: clientAuthentication == .none ? nil : self.certs.path("ca.crt")))
    }

    func clientContext(certificate: TLSCertificateSource? = nil, alpn: [String] = ["http/1.1"]) throws -> TLSClientContext {
        try TLSClientContext(TLSClientConfiguration(trustRoots: .file(self.certs.path("ca.crt")), certificate: certificate, alpn: alpn))
    }

    @Test func handshakeThenDataBothWays() throws {
        let pair = try TLSPair(server: try self.serverContext(), client: try self.clientContext(), serverHostname: "localhost")
        defer { pair.finish() }
        try pair.handshake()

        let serverHandshake = try #require(pair.serverRecorder.handshakes.first)
        let clientHandshake = try #require(pair.clientRecorder.handshakes.first)
        #expect(serverHandshake.protocolVersion == "TLSv1.3")
        #expect(clientHandshake.protocolVersion == "TLSv1.3")
        #expect(serverHandshake.cipher == clientHandshake.cipher && serverHandshake.cipher.hasPrefix("TLS_"))
        #expect(serverHandshake.alpn == "http/1.1" && clientHandshake.alpn == "http/1.1")
        #expect(serverHandshake.serverName == "localhost")
        #expect(serverHandshake.clientCertificate == nil)

        let ping = pair.client.writeString("ping")
        try pair.pump()
        #expect(pair.serverRecorder.receivedString == "ping")
        #expect(throws: Never.self) { try ping.wait() }

        // Larger than one TLS record in each direction.
        let big = String(repeating: "0123456789abcdef", count: 8192)
        _ = pair.server.writeString(big)
        _ = pair.client.writeString(big)
        try pair.pump()
        #expect(pair.clientRecorder.receivedString == big)
        #expect(pair.serverRecorder.receivedString == "ping" + big)
        #expect(pair.serverRecorder.errors.isEmpty && pair.clientRecorder.errors.isEmpty)
    }

    @Test func writesBeforeHandshakeAreDeliveredInOrder() throws {
        let pair = try TLSPair(server: try self.serverContext(), client: try self.clientContext(), serverHostname: "localhost")
        defer { pair.finish() }
        try pair.connect()
        let first = pair.client.writeString("early-1 ")
        let second = pair.client.writeString("early-2")
        _ = pair.server.writeString("server-early")
        #expect(pair.clientRecorder.handshakes.isEmpty)
        try pair.pump()
        #expect(pair.serverRecorder.receivedString == "early-1 early-2")
        #expect(pair.clientRecorder.receivedString == "server-early")
        #expect(throws: Never.self) { try first.wait(); try second.wait() }
    }

    @Test func tls12StillWorksWhenClientCapsAt12() throws {
        var configuration = TLSClientConfiguration(trustRoots: .file(self.certs.path("ca.crt")))
        configuration.forcedProtocolVersionForTesting = 0x0303  // TLS1_2_VERSION
        let pair = try TLSPair(server: try self.serverContext(), client: try TLSClientContext(configuration), serverHostname: "localhost")
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.serverRecorder.handshakes.first?.protocolVersion == "TLSv1.2")
        #expect(pair.serverRecorder.handshakes.first?.cipher.hasPrefix("ECDHE-ECDSA-") == true)
    }

    @Test func sniSelectsTheMatchingCertificate() throws {
        let server = try self.serverContext()
        #expect(server.certificateIndex(forServerName: "localhost") == 0)
        #expect(server.certificateIndex(forServerName: "OTHER.local.") == 1)
        #expect(server.certificateIndex(forServerName: "api.other.local") == 1)
        #expect(server.certificateIndex(forServerName: "a.b.other.local") == 0)  // wildcard covers one label
        #expect(server.certificateIndex(forServerName: "unknown.example") == 0)
        #expect(server.certificateIndex(forServerName: nil) == 0)

        // The client verifies "other.local" against the certificate it gets, so the handshake only
        // succeeds if the server switched to the second certificate.
        for name in ["other.local", "api.other.local"] {
            let pair = try TLSPair(server: server, client: try self.clientContext(), serverHostname: name)
            defer { pair.finish() }
            try pair.handshake()
            #expect(pair.clientRecorder.errors.isEmpty, "\(pair.clientRecorder.errors)")
            #expect(pair.serverRecorder.handshakes.first?.serverName == name)
        }
    }

    @Test func wrongHostnameFailsVerification() throws {
        let pair = try TLSPair(server: try self.serverContext(), client: try self.clientContext(), serverHostname: "nothere.example")
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.clientRecorder.handshakes.isEmpty)
        guard case .handshakeFailed(let error) = pair.clientRecorder.tlsErrors.first else {
            Issue.record("expected handshakeFailed, got \(pair.clientRecorder.errors)")
            return
        }
        #expect(error.errors.contains { $0.contains("hostname mismatch") })
        #expect(!pair.client.isActive && !pair.server.isActive)
    }

    @Test func tls11IsRefusedWhenMinimumIs12() throws {
        var configuration = TLSClientConfiguration(trustRoots: .file(self.certs.path("ca.crt")), cipherList: "DEFAULT@SECLEVEL=0")
        configuration.forcedProtocolVersionForTesting = 0x0302  // TLS1_1_VERSION
        let pair = try TLSPair(server: try self.serverContext(), client: try TLSClientContext(configuration), serverHostname: "localhost")
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.serverRecorder.handshakes.isEmpty)
        guard case .handshakeFailed(let error) = pair.serverRecorder.tlsErrors.first else {
            Issue.record("expected the server to refuse, got \(pair.serverRecorder.errors)")
            return
        }
        #expect(error.errors.contains { $0.contains("unsupported protocol") }, "\(error)")
        #expect(!pair.server.isActive)
    }

    @Test func tls13MinimumRefusesTLS12Client() throws {
        var configuration = TLSClientConfiguration(trustRoots: .file(self.certs.path("ca.crt")))
        configuration.forcedProtocolVersionForTesting = 0x0303
        let pair = try TLSPair(
            server: try self.serverContext(minimumVersion: .tls13), client: try TLSClientContext(configuration), serverHostname: "localhost")
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.serverRecorder.handshakes.isEmpty)
        #expect(pair.serverRecorder.tlsErrors.count == 1)
    }

    @Test func closeNotifyBothWays() throws {
        let pair = try TLSPair(server: try self.serverContext(), client: try self.clientContext(), serverHostname: "localhost")
        defer { pair.finish() }
        try pair.handshake()
        let closed = pair.client.close()
        #expect(pair.client.isActive)  // waiting for the server's close_notify
        try pair.pump()
        #expect(!pair.server.isActive && !pair.client.isActive)
        #expect(throws: Never.self) { try closed.wait() }
        #expect(pair.serverRecorder.errors.isEmpty, "\(pair.serverRecorder.errors)")
        #expect(pair.clientRecorder.errors.isEmpty, "\(pair.clientRecorder.errors)")
        #expect(pair.serverRecorder.isInactive && pair.clientRecorder.isInactive)
    }

    @Test func closeTimesOutWithoutPeerCloseNotify() throws {
        let pair = try TLSPair(server: try self.serverContext(), client: try self.clientContext(), serverHostname: "localhost")
        defer { pair.finish() }
        try pair.handshake()
        let closed = pair.server.close()
        #expect(pair.server.isActive)
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(!pair.server.isActive)
        #expect(throws: Never.self) { try closed.wait() }
    }

    @Test func peerVanishingWithoutCloseNotifyIsReported() throws {
        let pair = try TLSPair(server: try self.serverContext(), client: try self.clientContext(), serverHostname: "localhost")
        defer { pair.finish() }
        try pair.handshake()
        pair.server.pipeline.fireChannelInactive()
        #expect(pair.serverRecorder.tlsErrors == [.uncleanShutdown])
    }

    @Test func requiredClientCertificateMissingFailsHandshake() throws {
        let pair = try TLSPair(server: try self.serverContext(clientAuthentication: .require), client: try self.clientContext(), serverHostname: "localhost")
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.serverRecorder.handshakes.isEmpty)
        guard case .handshakeFailed(let error) = pair.serverRecorder.tlsErrors.first else {
            Issue.record("expected handshakeFailed, got \(pair.serverRecorder.errors)")
            return
        }
        #expect(error.errors.contains { $0.contains("certificate") }, "\(error)")
        // TLS 1.3 clients finish before the server checks them; they learn from the alert.
        #expect(!pair.clientRecorder.errors.isEmpty)
        #expect(!pair.server.isActive && !pair.client.isActive)
    }

    @Test func requiredClientCertificatePresentIsReported() throws {
        let pair = try TLSPair(
            server: try self.serverContext(clientAuthentication: .require),
            client: try self.clientContext(certificate: self.certs.source("client")), serverHostname: "localhost")
        defer { pair.finish() }
        try pair.handshake()
        _ = pair.client.writeString("hello")
        try pair.pump()
        #expect(pair.serverRecorder.receivedString == "hello")
        let certificate = try #require(pair.serverRecorder.handshakes.first?.clientCertificate)
        #expect(certificate.subject == "CN=demo-client,O=Portcullis Dev")
        #expect(certificate.issuer == "CN=Portcullis Dev CA,O=Portcullis Dev")
        #expect(certificate.subjectAlternativeNames == ["DNS:demo-client", "email:demo-client@example.com"])
        #expect(certificate.pem.hasPrefix("-----BEGIN CERTIFICATE-----"))

        // Cross-check with the openssl CLI.
        let path = self.certs.path("client.crt")
        let serial = try TestSupport.run("openssl", ["x509", "-in", path, "-noout", "-serial"]).output
        #expect(serial.trimmingCharacters(in: .whitespacesAndNewlines) == "serial=" + certificate.serialNumber)
        let fingerprint = try TestSupport.run("openssl", ["x509", "-in", path, "-noout", "-fingerprint", "-sha256"]).output
        let expectedFingerprint = fingerprint.split(separator: "=").last!.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: ":", with: "").lowercased()
        #expect(certificate.sha256Fingerprint == expectedFingerprint)
        let formatter = ISO8601DateFormatter()
        let notBefore = try #require(formatter.date(from: certificate.notBefore))
        let notAfter = try #require(formatter.date(from: certificate.notAfter))
        #expect(notBefore < Date() && Date() < notAfter)
        #expect(abs(notAfter.timeIntervalSince(notBefore) - 365 * 86_400) < 5)
    }

    @Test func optionalClientAuthenticationWorksWithoutCertificate() throws {
        let pair = try TLSPair(server: try self.serverContext(clientAuthentication: .optional), client: try self.clientContext(), serverHostname: "localhost")
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.serverRecorder.handshakes.count == 1)
        #expect(pair.serverRecorder.handshakes.first?.clientCertificate == nil)
    }

    @Test func untrustedServerCertificateFailsOnTheClient() throws {
        let client = try TLSClientContext(TLSClientConfiguration(trustRoots: .system))
        let pair = try TLSPair(server: try self.serverContext(), client: client, serverHostname: "localhost")
        defer { pair.finish() }
        try pair.handshake()
        guard case .handshakeFailed(let error) = pair.clientRecorder.tlsErrors.first else {
            Issue.record("expected handshakeFailed, got \(pair.clientRecorder.errors)")
            return
        }
        #expect(error.errors.contains { $0.contains("certificate verify failed") }, "\(error)")
        #expect(!pair.server.isActive)
    }

    @Test func garbageInputFailsWithoutCrashing() throws {
        let pair = try TLSPair(server: try self.serverContext(), client: try self.clientContext(), serverHostname: "localhost")
        defer { pair.finish() }
        try pair.server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try pair.server.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(pair.serverRecorder.tlsErrors.count == 1)
        #expect(!pair.server.isActive)
    }

    /// Every C object has one Swift owner; when the channels go, the owners (and so SSL, BIOs and
    /// the SSL_CTXs, which each connection keeps alive through its context) must go too. This holds
    /// on the success path, after a failed handshake, and after a close that timed out.
    @Test(arguments: ["clean", "handshake failure", "close timeout"])
    func ownersAreReleased(path: String) throws {
        weak var weakServerContext: TLSServerContext?
        weak var weakClientContext: TLSClientContext?
        weak var weakServerHandler: TLSServerHandler?
        weak var weakClientHandler: TLSClientHandler?
        do {
            let server = try self.serverContext(clientAuthentication: path == "handshake failure" ? .require : .none)
            let client = try self.clientContext()
            weakServerContext = server
            weakClientContext = client
            let pair = try TLSPair(server: server, client: client, serverHostname: "localhost")
            weakServerHandler = try pair.server.pipeline.syncOperations.handler(type: TLSServerHandler.self)
            weakClientHandler = try pair.client.pipeline.syncOperations.handler(type: TLSClientHandler.self)
            try pair.handshake()
            if path == "close timeout" {
                _ = pair.server.close()
                pair.server.embeddedEventLoop.advanceTime(by: .seconds(10))
            } else if path == "clean" {
                _ = pair.client.writeString("data")
                try pair.pump()
            }
            pair.finish()
        }
        #expect(weakServerHandler == nil && weakClientHandler == nil)
        #expect(weakServerContext == nil && weakClientContext == nil)
    }

    @Test func clientCertificateFromAnotherCAIsRejected() throws {
        for mode in [TLSClientAuthentication.optional, .require] {
            let pair = try TLSPair(
                server: try self.serverContext(clientAuthentication: mode),
                client: try self.clientContext(certificate: TestCertificates.foreign.source("client")), serverHostname: "localhost")
            defer { pair.finish() }
            try pair.handshake()
            #expect(pair.serverRecorder.handshakes.isEmpty, "\(mode)")
            guard case .handshakeFailed(let error) = pair.serverRecorder.tlsErrors.first else {
                Issue.record("expected handshakeFailed for \(mode), got \(pair.serverRecorder.errors)")
                continue
            }
            #expect(error.errors.contains { $0.contains("certificate verify failed") }, "\(error)")
        }
    }

    @Test func alpnWithoutOverlapProceedsWithoutProtocol() throws {
        let pair = try TLSPair(server: try self.serverContext(), client: try self.clientContext(alpn: ["h2"]), serverHostname: "localhost")
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.serverRecorder.handshakes.first?.alpn == nil)
        #expect(pair.clientRecorder.handshakes.first?.alpn == nil)
        let both = try TLSPair(server: try self.serverContext(), client: try self.clientContext(alpn: ["h2", "http/1.1"]), serverHostname: "localhost")
        defer { both.finish() }
        try both.handshake()
        #expect(both.clientRecorder.handshakes.first?.alpn == "http/1.1")
    }

    /// SNI moves the connection to another SSL_CTX; client verification must still apply there.
    @Test func clientAuthenticationAppliesAfterSNISwitch() throws {
        let withCertificate = try TLSPair(
            server: try self.serverContext(clientAuthentication: .require),
            client: try self.clientContext(certificate: self.certs.source("client")), serverHostname: "other.local")
        defer { withCertificate.finish() }
        try withCertificate.handshake()
        #expect(withCertificate.serverRecorder.handshakes.first?.serverName == "other.local")
        #expect(withCertificate.serverRecorder.handshakes.first?.clientCertificate?.subject == "CN=demo-client,O=Portcullis Dev")

        let without = try TLSPair(
            server: try self.serverContext(clientAuthentication: .require), client: try self.clientContext(), serverHostname: "other.local")
        defer { without.finish() }
        try without.handshake()
        #expect(without.serverRecorder.handshakes.isEmpty)
        #expect(without.serverRecorder.tlsErrors.count == 1)
    }
}
