import Foundation
import NIOCore
import NIOPosix
import PortcullisTLS
import Testing

@testable import PortcullisProxy

/// `https://` upstream endpoints: the gateway speaks TLS to the upstream, checks its certificate
/// against the configured CA and host name, and refuses an upstream it cannot verify.
@Suite struct HTTPSUpstreamTests {
    /// The echo upstream behind TLS, with a certificate from the test CA.
    func tlsEcho(_ certs: URL) async throws -> (any Channel, MultiThreadedEventLoopGroup) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let context = try TLSServerContext(
            TLSServerConfiguration(certificates: [
                TLSCertificateSource(certificateChainPEMPath: "\(certs.path)/server.crt", privateKeyPEMPath: "\(certs.path)/server.key")
            ]))
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(TLSServerHandler(context: context))
                    try ch.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return (channel, group)
    }

    func config(port: Int, tls: String) -> String {
        """
        workers: 1
        access_log: off
        listeners: [{ name: public, listen: "127.0.0.1:0" }]
        apis:
          - name: demo
            stage: demo
            routes: [{ path: "/{proxy+}", upstream: secure }]
        upstreams:
          secure:
            endpoints: ["https://localhost:\(port)"]
            \(tls)
        """
    }

    @Test func proxiesToAVerifiedHTTPSUpstream() async throws {
        let certs = try TLSProxyTests.makeCerts()
        let other = try TLSProxyTests.makeCerts()
        defer {
            try? FileManager.default.removeItem(at: certs)
            try? FileManager.default.removeItem(at: other)
        }
        let (upstream, group) = try await tlsEcho(certs)
        let port = upstream.localAddress!.port!

        let h = try await Harness(config(port: port, tls: "tls: { ca: \(certs.path)/ca.crt }"), startEcho: false)
        for i in 0..<3 {  // the second and third reuse the pooled TLS connection
            let r = try h.get("/demo/items/\(i)")
            #expect(r.status == 200)
            #expect(r.json["path"] as? String == "/items/\(i)")
            #expect((r.json["headers"] as? [String: String])?["host"] == "localhost:\(port)")
        }
        await h.stop()

        // A CA that did not sign the upstream's certificate: the handshake fails, 502.
        let wrong = try await Harness(config(port: port, tls: "tls: { ca: \(other.path)/ca.crt }"), startEcho: false)
        #expect(try wrong.get("/demo/x").status == 502)
        await wrong.stop()

        // The certificate names localhost, not this name: hostname verification refuses it.
        let misnamed = try await Harness(
            config(port: port, tls: "tls: { ca: \(certs.path)/ca.crt, server_name: api.example.com }"), startEcho: false)
        #expect(try misnamed.get("/demo/x").status == 502)
        await misnamed.stop()

        try await upstream.close()
        try await group.shutdownGracefully()
    }
}
