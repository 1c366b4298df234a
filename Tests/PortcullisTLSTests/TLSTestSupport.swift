import Foundation
import NIOCore
import NIOEmbedded
import PortcullisTLS
import Testing

/// Certificates made once per test process by certs/generate.sh (openssl CLI) in a temp dir.
final class TestCertificates: Sendable {
    let directory: String

    private init() {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-certs-\(UUID().uuidString)").path
        let script = TestSupport.repositoryRoot.appendingPathComponent("certs/generate.sh").path
        let result = try? TestSupport.run("bash", [script, directory])
        precondition(result?.status == 0, "certs/generate.sh failed: \(result?.output ?? "could not start bash")")
        self.directory = directory
    }

    static let shared = TestCertificates()
    /// A second, unrelated CA and its certificates: trusted by nobody in the tests.
    static let foreign = TestCertificates()

    func path(_ name: String) -> String { self.directory + "/" + name }

    func source(_ name: String) -> TLSCertificateSource {
        TLSCertificateSource(certificateChainPEMPath: self.path("\(name).crt"), privateKeyPEMPath: self.path("\(name).key"))
    }
}

/// Records what reaches the end of a pipeline: plaintext, TLS events, errors, inactivity.
final class PipelineRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    var received = ByteBuffer()
    var handshakes: [TLSHandshakeCompleted] = []
    var errors: [any Error] = []
    var isInactive = false

    var receivedString: String { String(buffer: self.received) }
    var tlsErrors: [TLSError] { self.errors.compactMap { $0 as? TLSError } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        self.received.writeBuffer(&buffer)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let handshake = event as? TLSHandshakeCompleted { self.handshakes.append(handshake) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.errors.append(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.isInactive = true
    }
}

/// A client and a server EmbeddedChannel joined by `pump()`, which moves bytes both ways until
/// neither side has anything left to send.
struct TLSPair {
    let client: EmbeddedChannel
    let server: EmbeddedChannel
    let clientRecorder = PipelineRecorder()
    let serverRecorder = PipelineRecorder()

    init(server serverContext: TLSServerContext, client clientContext: TLSClientContext, serverHostname: String?) throws {
        self.client = EmbeddedChannel()
        self.server = EmbeddedChannel()
        try self.server.pipeline.syncOperations.addHandlers([
            TLSServerHandler(context: serverContext), self.serverRecorder,
        ])
        try self.client.pipeline.syncOperations.addHandlers([
            TLSClientHandler(context: clientContext, serverHostname: serverHostname), self.clientRecorder,
        ])
    }

    /// Activates both channels (the client sends its ClientHello).
    func connect() throws {
        try self.server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try self.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
    }

    func pump() throws {
        var moved = true
        var rounds = 0
        while moved {
            moved = false
            rounds += 1
            precondition(rounds < 1000, "TLS pair does not settle")
            while let bytes = try self.client.readOutbound(as: ByteBuffer.self) {
                moved = true
                if self.server.isActive { try self.server.writeInbound(bytes) }
            }
            while let bytes = try self.server.readOutbound(as: ByteBuffer.self) {
                moved = true
                if self.client.isActive { try self.client.writeInbound(bytes) }
            }
        }
    }

    func handshake() throws {
        try self.connect()
        try self.pump()
    }

    /// Closes both sides (close_notify exchange, then the shutdown timeout for anything left),
    /// since `EmbeddedChannel.finish()` would otherwise wait forever for the peer's close_notify.
    func finish() {
        _ = self.client.close()
        try? self.pump()
        _ = self.server.close()
        try? self.pump()
        self.client.embeddedEventLoop.advanceTime(by: .seconds(60))
        self.server.embeddedEventLoop.advanceTime(by: .seconds(60))
        _ = try? self.client.finish(acceptAlreadyClosed: true)
        _ = try? self.server.finish(acceptAlreadyClosed: true)
    }
}

extension EmbeddedChannel {
    func writeString(_ string: String) -> EventLoopFuture<Void> {
        self.writeAndFlush(ByteBuffer(string: string))
    }
}
