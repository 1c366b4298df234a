import Foundation
import NIOCore
import NIOPosix
import PortcullisTLS
import Testing

/// Answers one HTTP/1.1 request per connection with a fixed body, then closes (Connection: close).
final class TinyHTTPResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var request = ""
    private var answered = false
    private var handshake: TLSHandshakeCompleted?

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted { self.handshake = event }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.request += String(buffer: self.unwrapInboundIn(data))
        guard !self.answered, self.request.contains("\r\n\r\n") else { return }
        self.answered = true
        let body = "hello over \(self.handshake?.protocolVersion ?? "?") sni=\(self.handshake?.serverName ?? "-")\n"
        let response = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: response)), promise: nil)
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Handshake failures and unclean shutdowns are expected from the refusal cases.
    }
}

@Suite("TLS on a real socket with independent clients (curl, openssl s_client)")
struct TLSSocketTests {
    let certs = TestCertificates.shared

    func makeContext(sessionTickets: Bool = true, keys: TLSSessionTicketKeys? = nil) throws -> TLSServerContext {
        try TLSServerContext(
            TLSServerConfiguration(
                certificates: [self.certs.source("server"), self.certs.source("other")], sessionTickets: sessionTickets),
            sessionTicketKeys: keys)
    }

    func withServer(sessionTickets: Bool = true, _ body: (Int) throws -> Void) throws {
        try self.withServer(context: try self.makeContext(sessionTickets: sessionTickets), body)
    }

    func withServer(context: TLSServerContext, _ body: (Int) throws -> Void) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        TLSServerHandler(context: context), TinyHTTPResponder(),
                    ])
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? channel.close().wait() }
        try body(try #require(channel.localAddress?.port))
    }

    func resume(firstPort: Int, secondPort: Int, version: String = "1.3") throws -> String {
        let script = TestSupport.fixturesDirectory.appendingPathComponent("resume_session.py").path
        let result = try TestSupport.run("python3", [script, String(firstPort), self.certs.path("ca.crt"), version, String(secondPort)])
        #expect(result.status == 0, "\(result.output)")
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A reload builds a new context; with the same ticket key store, clients still resume.
    @Test func ticketsSurviveAReloadWithSharedKeys() throws {
        let keys = TLSSessionTicketKeys()
        for version in ["1.2", "1.3"] {
            try self.withServer(context: try self.makeContext(keys: keys)) { before in
                try self.withServer(context: try self.makeContext(keys: keys)) { after in
                    let outcome = try self.resume(firstPort: before, secondPort: after, version: version)
                    #expect(outcome == "False True", "TLS \(version)")
                }
            }
        }
        // Without a shared store each context has its own built-in key: no resumption across them.
        try self.withServer(context: try self.makeContext()) { before in
            try self.withServer(context: try self.makeContext()) { after in
                let outcome = try self.resume(firstPort: before, secondPort: after)
                #expect(outcome == "False False")
            }
        }
    }

    /// Same master secret, clocks one and three intervals apart: a ticket from the previous
    /// epoch is still accepted, one from two epochs back is not.
    @Test func ticketKeysRotate() throws {
        let secret = SecureRandom.bytes(32)
        let issuing = TLSSessionTicketKeys(rotationIntervalSeconds: 100, masterSecret: secret, elapsedSeconds: { 50 })
        let nextEpoch = TLSSessionTicketKeys(rotationIntervalSeconds: 100, masterSecret: secret, elapsedSeconds: { 150 })
        let later = TLSSessionTicketKeys(rotationIntervalSeconds: 100, masterSecret: secret, elapsedSeconds: { 250 })
        try self.withServer(context: try self.makeContext(keys: issuing)) { first in
            try self.withServer(context: try self.makeContext(keys: nextEpoch)) { second in
                let outcome = try self.resume(firstPort: first, secondPort: second)
                #expect(outcome == "False True")
            }
            try self.withServer(context: try self.makeContext(keys: later)) { third in
                let outcome = try self.resume(firstPort: first, secondPort: third)
                #expect(outcome == "False False")
            }
        }
    }

    @Test func curlRoundTrip() throws {
        try self.withServer { port in
            let result = try TestSupport.run("curl", [
                "-sS", "--max-time", "10", "--cacert", self.certs.path("ca.crt"),
                "--resolve", "localhost:\(port):127.0.0.1", "https://localhost:\(port)/demo/public",
            ])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output == "hello over TLSv1.3 sni=localhost\n")

            // By IP address: no SNI, default certificate, IP SAN verified by curl.
            let byIP = try TestSupport.run("curl", [
                "-sS", "--max-time", "10", "--cacert", self.certs.path("ca.crt"), "--tlsv1.2", "--tls-max", "1.2",
                "https://127.0.0.1:\(port)/",
            ])
            #expect(byIP.status == 0, "\(byIP.output)")
            #expect(byIP.output == "hello over TLSv1.2 sni=-\n")
        }
    }

    @Test func opensslClientSeesSNICertificateAndIsRefusedTLS11() throws {
        try self.withServer { port in
            let other = try TestSupport.run("openssl", [
                "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "other.local",
                "-CAfile", self.certs.path("ca.crt"), "-verify_return_error", "-verify_hostname", "other.local",
                "-brief",
            ], input: "")
            #expect(other.status == 0, "\(other.output)")
            #expect(other.output.contains("CN = other.local") || other.output.contains("CN=other.local"), "\(other.output)")

            let old = try TestSupport.run("openssl", [
                "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost", "-tls1_1",
                "-cipher", "DEFAULT@SECLEVEL=0", "-brief",
            ], input: "")
            #expect(old.status != 0, "TLS 1.1 was accepted: \(old.output)")
            #expect(!old.output.contains("Protocol version: TLSv1.1"))
        }
    }

    /// Key-exchange groups: Mozilla intermediate's X25519, P-256 and P-384 by default (OpenSSL's
    /// own default also offers X448 and P-521, which sslyze flags); a client offering only those is
    /// refused, one offering X448 first and an allowed group too gets the allowed one; `groups`
    /// changes the list. (Over TLS 1.2 the client's groups also bound the ECDSA certificate's
    /// curve, P-256 here, so the 1.2 case offers P-256 too.)
    @Test(arguments: [("1.3", "X25519", true), ("1.3", "P-256", true), ("1.3", "P-384", true), ("1.3", "X448", false), ("1.3", "P-521", false),
                      ("1.3", "X448:P-384", true), ("1.2", "X448:P-256", true)])
    func defaultGroupsAreMozillaIntermediate(version: String, group: String, accepted: Bool) throws {
        try self.withServer { port in
            let r = try TestSupport.run("openssl", [
                "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost", "-tls\(version == "1.3" ? "1_3" : "1_2")",
                "-groups", group, "-CAfile", self.certs.path("ca.crt"), "-verify_return_error", "-brief",
            ], input: "")
            #expect((r.status == 0) == accepted, "\(group) over TLS \(version): \(r.output)")
            // Offered X448 first and something else too: the server picked the other.
            if accepted { #expect(!r.output.contains("X448"), "\(r.output)") }
        }
    }

    @Test func groupsAreConfigurable() throws {
        let context = try TLSServerContext(TLSServerConfiguration(certificates: [self.certs.source("server")], groups: "P-521:X448"))
        try self.withServer(context: context) { port in
            func connect(_ group: String) throws -> Int32 {
                try TestSupport.run("openssl", [
                    "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost", "-groups", group,
                    "-CAfile", self.certs.path("ca.crt"), "-brief",
                ], input: "").status
            }
            let p521 = try connect("P-521"), x25519 = try connect("X25519")
            #expect(p521 == 0)
            #expect(x25519 != 0)
        }
        #expect(throws: TLSError.self) { try TLSServerContext(TLSServerConfiguration(certificates: [self.certs.source("server")], groups: "X25519:NoSuchGroup")) }
    }

    /// Python's ssl module (its own client state machine) resumes with our tickets / session cache.
    @Test(arguments: [(true, "1.3", "False True"), (true, "1.2", "False True"), (false, "1.3", "False False"), (false, "1.2", "False True")])
    func sessionResumption(tickets: Bool, version: String, expected: String) throws {
        let script = TestSupport.fixturesDirectory.appendingPathComponent("resume_session.py").path
        try self.withServer(sessionTickets: tickets) { port in
            let result = try TestSupport.run("python3", [script, String(port), self.certs.path("ca.crt"), version])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == expected, "tickets \(tickets), TLS \(version)")
        }
    }

    /// A TLS 1.2 client asking to renegotiate ("R" in s_client) gets a no_renegotiation alert and
    /// the session does not renegotiate.
    @Test func renegotiationIsRefused() throws {
        try self.withServer { port in
            // s_client quits when its input ends: keep the input open until the alert shows in its
            // output (stderr, unbuffered), polled with a 10 s deadline, not for a guessed second.
            let result = try TestSupport.run("bash", ["-c", """
                out=$(mktemp); trap 'rm -f "$out"' EXIT
                { printf 'R\\n'; for _ in $(seq 1 200); do grep -q 'no renegotiation' "$out" && break; sleep 0.05; done; } \
                  | openssl s_client -connect 127.0.0.1:\(port) -servername localhost \
                  -CAfile \(self.certs.path("ca.crt")) -tls1_2 >"$out" 2>&1
                cat "$out"
                """])
            #expect(result.output.contains("RENEGOTIATING"), "\(result.output)")
            #expect(result.output.contains("no renegotiation"), "\(result.output)")
        }
    }
}
