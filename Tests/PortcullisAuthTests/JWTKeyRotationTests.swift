import Foundation
import NIOCore
import NIOPosix
import PortcullisCore
import PortcullisTLS
import Testing

@testable import PortcullisAuth
@testable import PortcullisConfig

/// Key sets fetched from a loopback server: rotation, outage, garbage, cooldown, discovery.
/// The cooldown runs on a manual clock; waiting only happens for real network round trips.
@Suite("JWT: remote key sets", .serialized, .timeLimit(.minutes(2)))
struct JWTKeyRotationTests {
    /// Waits for an authorizer's remote key set to load, on the key set's own event.
    static func waitForFirstKeySet(_ a: JWTAuthorizer, on loop: any EventLoop) throws {
        guard case .remote(let source) = a.keys else {
            Issue.record("not a remote key set")
            throw JWTFixtures.FixtureError(description: "not remote")
        }
        try source.loaded(on: loop).wait()
    }

    func remote(_ m: JWTFixtures.Minted, _ url: String, group: any EventLoopGroup, clock: ManualClock, discovery: Bool = false) -> JWTAuthorizer {
        let source: JWTAuthorizerConfig.KeySource = discovery ? .discovery(issuer: url) : .jwksURL(url)
        var c = JWTFixtures.config(source: source)
        c.audiences = [m.audience]
        c.refresh.cooldown = .seconds(30)
        // No timer-driven retries while the test drives fetches through the manual clock.
        c.refresh.retry = .seconds(600)
        c.cacheTTL = .zero  // every request goes to the key set
        return JWTAuthorizer.compile(c, environment: JWTFixtures.environment(group), clock: clock.clock)
    }

    @Test func rotationOutageAndGarbage() throws {
        let m = try JWTFixtures.get()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let server = try JWTKeyServer(group: group)
        server.serve(m.jwks(["rsa"]), cacheControl: "public, max-age=3600")
        let clock = ManualClock(JWTFixtures.now)
        let a = remote(m, server.jwksURL, group: group, clock: clock)
        try Self.waitForFirstKeySet(a, on: group.next())
        guard case .remote(let source) = a.keys else { Issue.record("not remote"); return }
        #expect(source.status.keyIDs == ["rsa"])
        let loop = group.next()
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-RS256")), on: loop).isAllow)

        // The issuer rotates in a P-256 key (and keeps the RSA one published).
        server.serve(m.jwks(["rsa", "p256"]))
        // Within the cooldown of the last fetch an unknown kid is refused at once, without a fetch.
        let before = server.requests.count
        let early = try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-ES256")), on: loop)
        #expect(early.refusal?.reason == "Unknown kid p256 (key set refresh cooling down)")
        #expect(server.requests.count == before)
        // After it, the unknown kid triggers one refresh and the new key is accepted.
        clock.advance(by: 31)
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-ES256")), on: loop).isAllow)
        #expect(server.requests.count == before + 1)
        #expect(Set(source.status.keyIDs) == ["rsa", "p256"])

        // The issuer goes down: a refresh fails, the keys we have keep working.
        try server.stop()
        clock.advance(by: 31)
        let unknown = try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("unknown-kid")), on: loop)
        #expect(unknown.refusal?.reason == "Unknown kid rotated-away")
        #expect(source.status.lastError != nil)
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-RS256")), on: loop).isAllow)
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-ES256")), on: loop).isAllow)

        // Back up, answering garbage, then an error status: still the last good set.
        try server.start(port: server.port)
        for (body, status) in [("<html>oops</html>", 200), ("{\"keys\":[]}", 200), (m.jwks(["ed"]), 503)] {
            server.serve(body, status: status)
            clock.advance(by: 31)
            let n = server.requests.count
            #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-EdDSA")), on: loop).refusal?.reason == "Unknown kid ed")
            #expect(server.requests.count == n + 1)
            #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-RS256")), on: loop).isAllow)
        }

        // A real rotation that drops the RSA key: the RSA token stops working after the refresh.
        server.serve(m.jwks(["ed"]), chunked: true)
        clock.advance(by: 31)
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-EdDSA")), on: loop).isAllow)
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-RS256")), on: loop).refusal?.reason == "Unknown kid rsa (key set refresh cooling down)")
        try server.stop()
    }

    @Test func floodOfBogusKidsCostsOneFetch() throws {
        let m = try JWTFixtures.get()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let server = try JWTKeyServer(group: group)
        server.serve(m.jwks(["rsa"]))
        let clock = ManualClock(JWTFixtures.now)
        let a = remote(m, server.jwksURL, group: group, clock: clock)
        try Self.waitForFirstKeySet(a, on: group.next())
        clock.advance(by: 60)
        let before = server.requests.count
        // Many requests with an unknown kid at once, on both loops: they share one fetch.
        let futures = (0..<50).map { i -> EventLoopFuture<AuthDecision> in
            let loop = group.next()
            return loop.flatSubmit {
                switch a.evaluate(JWTFixtures.bearer(m.token("unknown-kid")), route: .none, on: loop) {
                case .now(let d): return loop.makeSucceededFuture(d)
                case .later(let f): return f
                }
            }
        }
        for f in futures { #expect(try f.wait().refusal?.type == .UNAUTHORIZED) }
        #expect(server.requests.count == before + 1)
        try server.stop()
    }

    @Test func discoveryAndFirstLoadWaiting() throws {
        let m = try JWTFixtures.get()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try JWTKeyServer(group: group)
        server.serve(m.jwks(["p384"]))
        let clock = ManualClock(JWTFixtures.now)
        let a = remote(m, server.issuer, group: group, clock: clock, discovery: true)
        // The first request may arrive before the first load: it waits for it (single flight).
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-ES384")), on: group.next()).isAllow)
        #expect(server.requests.first == "/.well-known/openid-configuration")
        #expect(server.requests.contains("/.well-known/jwks.json"))
        try server.stop()
    }

    @Test func issuerDownAtStartIsAuthorizerFailure() throws {
        let m = try JWTFixtures.get()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try JWTKeyServer(group: group)
        let port = server.port
        try server.stop()
        let clock = ManualClock(JWTFixtures.now)
        let a = remote(m, "http://127.0.0.1:\(port)/jwks.json", group: group, clock: clock)
        let d = try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-RS256")), on: group.next())
        #expect(d.refusal?.type == .AUTHORIZER_FAILURE)
        #expect(!a.isReady)
    }
}

/// Key sets over HTTPS through PortcullisTLS's client handler, against a loopback TLS server
/// with a certificate made by the openssl CLI at test time.
@Suite("JWT: key sets over HTTPS", .serialized)
struct JWTHTTPSKeySetTests {
    static func run(_ args: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    @Test func verifiedCertificateAndHostName() throws {
        let m = try JWTFixtures.get()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-jwks-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("cert.pem").path, key = dir.appendingPathComponent("key.pem").path
        let made = try Self.run([
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
            "-days", "1", "-subj", "/CN=jwks-test", "-addext", "subjectAltName=IP:127.0.0.1",
        ])
        try #require(made == 0, "openssl could not make a test certificate")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let tls = try TLSServerContext(TLSServerConfiguration(certificates: [TLSCertificateSource(certificateChainPEMPath: cert, privateKeyPEMPath: key)]))
        let server = try JWTKeyServer(group: group, tls: tls)
        server.serve(m.jwks(["rsa"]))
        defer { try? server.stop() }

        func authorizer(_ url: String, ca: String?) -> JWTAuthorizer {
            var c = JWTFixtures.config(source: .jwksURL(url))
            c.refresh.caFile = ca
            c.refresh.timeout = .seconds(3)
            c.refresh.retry = .seconds(600)
            return JWTAuthorizer.compile(c, environment: JWTFixtures.environment(group), clock: ManualClock(JWTFixtures.now).clock)
        }
        let token = JWTFixtures.bearer(m.token("valid-RS256"))
        // Trusted CA, name matches the IP SAN: the key set loads.
        let good = authorizer("https://127.0.0.1:\(server.port)/jwks.json", ca: cert)
        #expect(try JWTFixtures.decide(good, token, on: group.next()).isAllow)
        // The system store does not know this certificate: no keys, 500.
        let untrusted = authorizer("https://127.0.0.1:\(server.port)/jwks2.json", ca: nil)
        #expect(try JWTFixtures.decide(untrusted, token, on: group.next()).refusal?.type == .AUTHORIZER_FAILURE)
        // Trusted, but the certificate is not for this name.
        let wrongName = authorizer("https://localhost:\(server.port)/jwks3.json", ca: cert)
        #expect(try JWTFixtures.decide(wrongName, token, on: group.next()).refusal?.type == .AUTHORIZER_FAILURE)
        #expect(server.requests == ["/jwks.json"])
    }
}
