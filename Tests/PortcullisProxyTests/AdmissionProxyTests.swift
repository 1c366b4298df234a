import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import PortcullisProxy

/// Admission phases that answer later, through the real gateway: an authorizer waiting on a key
/// set whose answer arrives after the client has gone.
@Suite struct AdmissionProxyTests {
    /// An Ed25519 key made with the openssl CLI: its PEM file (for minting) and its public key as
    /// a JWK Set under `kid`.
    struct Key {
        let pemPath: String
        let x: String

        init(dir: String) throws {
            pemPath = dir + "/ed25519.pem"
            try #require(try runTool(["openssl", "genpkey", "-algorithm", "ed25519", "-out", pemPath]).code == 0)
            let der = dir + "/ed25519.pub.der"
            try #require(try runTool(["openssl", "pkey", "-in", pemPath, "-pubout", "-outform", "DER", "-out", der]).code == 0)
            // SubjectPublicKeyInfo of Ed25519: a fixed 12-byte prefix, then the 32-byte key.
            let spki = try Data(contentsOf: URL(fileURLWithPath: der))
            try #require(spki.count == 44)
            x = spki.suffix(32).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }

        func keySet(kid: String) -> String {
            #"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"\#(kid)","alg":"EdDSA","x":"\#(x)"}]}"#
        }

        /// A token with a key id, minted by the built binary as a user would.
        func mint(kid: String) throws -> String {
            let r = try runTool([
                CommandLineTests.binary, "token", "mint", "--key", pemPath, "--alg", "EdDSA", "--kid", kid,
                "--iss", "portcullis-lab", "--aud", "workshop", "--sub", "alice", "--ttl", "1h",
            ])
            try #require(r.code == 0, "token mint failed: \(r.err)")
            return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test func lateAuthorizerAnswerAfterTheClientLeftIsDropped() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-late-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = try Key(dir: dir)
        let keys = HeldKeySetServer(first: key.keySet(kid: "old"), later: key.keySet(kid: "new"))
        try await keys.start()
        let token = try key.mint(kid: "new")
        let logPath = dir + "/access.log"
        let h = try await Harness(
            """
            workers: 1
            access_log: \(logPath)
            listeners: [{ name: public, listen: "127.0.0.1:0" }]
            authorizers:
              lab:
                type: jwt
                algorithms: [EdDSA]
                jwks_url: "http://127.0.0.1:\(keys.port)/jwks.json"
                issuer: portcullis-lab
                audiences: [workshop]
                jwks: { cooldown: 0s, timeout: 120s }
            apis:
              - name: lab
                stage: lab
                routes: [{ path: /custom, upstream: backend, auth: [lab] }]
            upstreams:
              backend: { endpoints: ["http://${ECHO}"] }
            """)
        do {
            #expect(await h.server.waitUntilReady(timeout: .seconds(30)))
            // The token's kid is not in the first key set: admission waits on a refresh, which the
            // key-set server holds. Fetches before this one (the start-up fetch, or another the
            // gateway makes on its own) got the first set at once: none failed, so no back-off
            // can keep this request from fetching, and the held fetch does not time out.
            await keys.holdFromNow()
            let client = try h.connect()
            client.send("GET /lab/custom HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n\r\n")
            try await keys.heldRequest.futureResult.get()
            // Reset only once this request is the one waiting in admission, or the gateway may
            // never read it.
            try await waitUntilAsync("the request waiting in admission") { await h.server.requestsAdmitting() == 1 }
            client.reset()
            // The gateway sees the reset and logs the abandoned request.
            try await waitUntil("a 499 in the access log") {
                ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").contains("\"status\":499")
            }
            // Now the refresh answers, for a request that is gone: nothing is written anywhere,
            // and the gateway goes on with the new key set.
            keys.release()
            let ok = try h.get("/lab/custom", headers: ["Authorization": "Bearer \(token)"])
            #expect(ok.status == 200)
            // Two requests, two log lines: the abandoned one (499) and the new one (200). A late
            // answer applied to the gone request would have sent it upstream and logged it again.
            func lines() -> [String] {
                ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            }
            try await waitUntil("the 200 in the access log") { lines().contains { $0.contains("\"status\":200") } }
            #expect(lines().filter { $0.contains("/lab/custom") }.count == 2)
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
        await keys.stop()
    }
}

/// `waitUntil` for a condition read asynchronously (state on the gateway's loops).
func waitUntilAsync(_ what: String, timeout: Duration = .seconds(30), _ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !(await condition()) {
        guard ContinuousClock.now < deadline else { throw RawError.bad("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Polls a condition that has no event to wait on (a file another thread writes), with a
/// generous deadline for loaded CI machines.
func waitUntil(_ what: String, timeout: Duration = .seconds(30), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw RawError.bad("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// A key-set server: answers the first GET at once, holds later ones until `release()`, then
/// answers every request at once. All state lives on its single event loop.
final class HeldKeySetServer: @unchecked Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let first: String
    let later: String
    /// Completed when a request is being held.
    let heldRequest: EventLoopPromise<Void>
    private var channel: (any Channel)?
    // Touched on the group's one loop only.
    private var holding = false
    private var released = false
    private var held: [ChannelHandlerContext] = []

    init(first: String, later: String) {
        self.first = first
        self.later = later
        heldRequest = group.next().makePromise()
    }

    var port: Int { channel!.localAddress!.port! }

    func start() async throws {
        channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(Handler(server: self)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    /// From now on, fetches are held until `release`; before, each got `first` at once.
    func holdFromNow() async {
        try? await group.next().submit { self.holding = true }.get()
    }

    func release() {
        group.next().execute {
            self.released = true
            for c in self.held { self.answer(c, self.later) }
            self.held = []
        }
    }

    func stop() async {
        try? await channel?.close()
        try? await group.shutdownGracefully()
    }

    fileprivate func request(_ context: ChannelHandlerContext) {
        if released {
            answer(context, later)
        } else if holding {
            held.append(context)
            heldRequest.succeed(())
        } else {
            answer(context, first)
        }
    }

    private func answer(_ context: ChannelHandlerContext, _ body: String) {
        let response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        context.writeAndFlush(NIOAny(ByteBuffer(string: response))).whenComplete { _ in context.close(promise: nil) }
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let server: HeldKeySetServer
        var received = ""
        init(server: HeldKeySetServer) { self.server = server }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += String(buffer: unwrapInboundIn(data))
            if received.contains("\r\n\r\n") {
                received = ""
                server.request(context)
            }
        }
    }
}
