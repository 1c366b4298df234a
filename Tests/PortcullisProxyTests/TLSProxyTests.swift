import Foundation
import Testing

@testable import PortcullisProxy

/// TLS termination through the real gateway, checked with independent clients (curl, openssl s_client).
@Suite struct TLSProxyTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Makes a dev CA and certificates with the project's own script into a fresh folder.
    static func makeCerts() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-certs-\(UUID().uuidString)")
        let r = try runTool(["bash", root.appendingPathComponent("certs/generate.sh").path, dir.path])
        guard r.code == 0 else { throw RawError.bad("generate.sh failed: \(r.err)") }
        return dir
    }

    static func config(_ certs: URL) -> String {
        """
        workers: 1
        access_log: off
        listeners:
          - name: public
            listen: "127.0.0.1:0"
            tls:
              certificates:
                - { cert: \(certs.path)/server.crt, key: \(certs.path)/server.key }
                - { cert: \(certs.path)/other.crt, key: \(certs.path)/other.key }
          - name: mtls
            listen: "127.0.0.1:0"
            tls:
              certificates: [{ cert: \(certs.path)/server.crt, key: \(certs.path)/server.key }]
              client_auth: require
              client_ca: \(certs.path)/ca.crt
        apis:
          - name: demo
            stage: demo
            routes: [{ path: /public, methods: [GET], upstream: backend }]
        upstreams:
          backend: { endpoints: ["http://${ECHO}"] }
        """
    }

    func curl(_ args: [String]) throws -> (Int32, String) {
        let r = try runTool(["curl", "-sS", "--max-time", "10"] + args)
        return (r.code, r.out + r.err)
    }

    func sClient(_ port: Int, _ extra: [String]) throws -> (Int32, String) {
        let r = try runTool(["openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-brief"] + extra, stdin: Data())
        return (r.code, r.out + r.err)
    }

    @Test func terminatesTLSWithSNIAndRefusesOldVersions() async throws {
        let certs = try Self.makeCerts()
        let h = try await Harness(Self.config(certs))
        defer { try? FileManager.default.removeItem(at: certs) }
        let (code, out) = try curl(["--cacert", "\(certs.path)/ca.crt", "https://localhost:\(h.port)/demo/public"])
        #expect(code == 0, "\(out)")
        #expect(out.contains(#""x-forwarded-proto":"https""#))
        let other = try runTool(["openssl", "s_client", "-connect", "127.0.0.1:\(h.port)", "-servername", "other.local", "-showcerts"], stdin: Data())
        #expect(other.out.contains("other.local"))
        let plain = try runTool(["openssl", "s_client", "-connect", "127.0.0.1:\(h.port)", "-servername", "localhost"], stdin: Data())
        #expect(plain.out.contains("localhost") && !plain.out.contains("CN = other.local"))
        let (old, oldOut) = try sClient(h.port, ["-tls1_1"])
        #expect(old != 0, "\(oldOut)")
        let stats = await h.server.stats()
        #expect(stats.tlsHandshakeFailures >= 1)
        #expect(stats.tlsHandshakes >= 3)
        let (v13, v13Out) = try sClient(h.port, ["-tls1_3", "-CAfile", "\(certs.path)/ca.crt"])
        #expect(v13 == 0 && v13Out.contains("TLSv1.3"), "\(v13Out)")
        await h.stop()
    }

    @Test func mutualTLSRequiresAClientCertificateAndForwardsItsSubject() async throws {
        let certs = try Self.makeCerts()
        let h = try await Harness(Self.config(certs))
        defer { try? FileManager.default.removeItem(at: certs) }
        let port = try #require(h.server.boundAddresses["mtls"]?.port)
        let url = "https://localhost:\(port)/demo/public"
        let (refused, _) = try curl(["--cacert", "\(certs.path)/ca.crt", url])
        #expect(refused != 0)
        let (ok, out) = try curl([
            "--cacert", "\(certs.path)/ca.crt", "--cert", "\(certs.path)/client.crt", "--key", "\(certs.path)/client.key",
            "-H", "X-Client-Cert-Subject: forged", url,
        ])
        #expect(ok == 0, "\(out)")
        #expect(out.contains(#""x-client-cert-subject":"CN=demo-client"#))
        #expect(out.contains(#""x-client-cert-sha256":""#))
        #expect(!out.contains("forged"))
        // Without mutual TLS the same header from a client never reaches the upstream.
        let (_, spoof) = try curl(["--cacert", "\(certs.path)/ca.crt", "-H", "X-Client-Cert-Subject: forged", "https://localhost:\(h.port)/demo/public"])
        #expect(!spoof.contains("forged"))
        await h.stop()
    }

    @Test func reloadRotatesCertificatesForNewHandshakes() async throws {
        let certs = try Self.makeCerts()
        let next = try Self.makeCerts()
        let h = try await Harness(Self.config(certs))
        defer {
            try? FileManager.default.removeItem(at: certs)
            try? FileManager.default.removeItem(at: next)
        }
        #expect(try curl(["--cacert", "\(certs.path)/ca.crt", "https://localhost:\(h.port)/demo/public"]).0 == 0)
        // A broken certificate path fails the reload and the running certificates stay.
        #expect(throws: (any Error).self) { try h.reload(Self.config(next).replacingOccurrences(of: "\(next.path)/server.key", with: "\(next.path)/missing.key")) }
        #expect(try curl(["--cacert", "\(certs.path)/ca.crt", "https://localhost:\(h.port)/demo/public"]).0 == 0)
        try h.reload(Self.config(next).replacingOccurrences(of: "name: mtls", with: "name: mtls2"))
        #expect(try curl(["--cacert", "\(next.path)/ca.crt", "https://localhost:\(h.port)/demo/public"]).0 == 0)
        #expect(try curl(["--cacert", "\(certs.path)/ca.crt", "https://localhost:\(h.port)/demo/public"]).0 != 0)
        await h.stop()
    }
}
