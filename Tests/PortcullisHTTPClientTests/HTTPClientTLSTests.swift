import Foundation
import NIOCore
import NIOPosix
import PortcullisHTTPClient
import PortcullisTLS
import Testing

/// A CA and a server certificate for 127.0.0.1, made at test time by the repository's
/// certs/generate.sh (openssl CLI) in a temporary directory.
final class TestCertificates: Sendable {
    let directory: String

    private init() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-httpclient-\(UUID().uuidString)").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["bash", root.appendingPathComponent("certs/generate.sh").path, directory]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    static func make() throws -> TestCertificates { try TestCertificates() }

    func path(_ name: String) -> String { directory + "/" + name }
}

@Suite("HTTP client over TLS")
struct HTTPClientTLSTests {
    @Test func httpsReusesOneVerifiedConnection() throws {
        let certs = try TestCertificates.make()
        defer { try? FileManager.default.removeItem(atPath: certs.directory) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let serverTLS = try TLSServerContext(TLSServerConfiguration(certificates: [
            TLSCertificateSource(certificateChainPEMPath: certs.path("server.crt"), privateKeyPEMPath: certs.path("server.key"))
        ]))
        let server = try ScriptedServer(group: group, tls: serverTLS) { r in .respond(Responses.ok("secret \(r.index)")) }
        defer { try? server.stop() }
        let loop = group.next()
        let url = HTTPURL("https://127.0.0.1:\(server.port)/jwks.json")!

        let trusted = HTTPClient(group: group, configuration: HTTPClientConfiguration(
            tls: try TLSClientContext(TLSClientConfiguration(trustRoots: .file(certs.path("ca.crt"))))))
        let first = try trusted.execute(HTTPClientRequest(url: url), timeout: .seconds(5), on: loop).wait()
        let second = try trusted.execute(HTTPClientRequest(url: url), timeout: .seconds(5), on: loop).wait()
        #expect(String(decoding: first.body, as: UTF8.self) == "secret 0")
        #expect(String(decoding: second.body, as: UTF8.self) == "secret 1")
        #expect(server.accepted == 1)

        // A client that does not trust the CA never gets to send the request.
        let untrusted = HTTPClient(group: group, configuration: HTTPClientConfiguration(
            tls: try TLSClientContext(TLSClientConfiguration(trustRoots: .file(TestCertificates.make().path("ca.crt"))))))
        let error = #expect(throws: HTTPClientError.self) {
            try untrusted.execute(HTTPClientRequest(url: url), timeout: .seconds(5), on: loop).wait()
        }
        guard case .connectFailed = error else { Issue.record("expected connectFailed, got \(String(describing: error))"); return }
        #expect(server.received.count == 2)
    }

    @Test func httpsWithoutTLSContextIsRefused() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let client = HTTPClient(group: group)
        #expect(throws: HTTPClientError.tlsNotConfigured) {
            try client.execute(HTTPClientRequest(url: HTTPURL("https://127.0.0.1:1/")!), timeout: .seconds(1), on: group.next()).wait()
        }
    }
}
