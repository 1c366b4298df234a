import NIOCore
import NIOPosix
import Synchronization

@testable import PortcullisProxy

/// An echo upstream that records what reaches it: connections, and the bytes of every read (the
/// first MiB kept). Tests wait for "the upstream has received something" as an event, never by
/// sleeping, and check afterwards what it did or did not see.
final class RecordingEcho: Sendable {
    let channel: any Channel
    private let recorder: Recorder
    var port: Int { channel.localAddress!.port! }

    private init(channel: any Channel, recorder: Recorder) {
        self.channel = channel
        self.recorder = recorder
    }

    static func start(group: any EventLoopGroup) async throws -> RecordingEcho {
        let recorder = Recorder()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Tap(recorder))
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return RecordingEcho(channel: channel, recorder: recorder)
    }

    /// Connections accepted so far.
    var connections: Int { recorder.state.withLock { $0.connections } }
    /// Bytes received so far, on all connections.
    var bytesReceived: Int { recorder.state.withLock { $0.bytes } }
    /// What was received so far (the first MiB), as text.
    var receivedText: String { recorder.state.withLock { String(decoding: $0.kept, as: UTF8.self) } }

    /// Returns once at least `n` bytes have arrived (at once if they have).
    func received(atLeast n: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let already = recorder.state.withLock { s -> Bool in
                if s.bytes >= n { return true }
                s.waiters.append((n, c))
                return false
            }
            if already { c.resume() }
        }
    }

    func close() async { try? await channel.close() }

    final class Recorder: Sendable {
        struct State {
            var connections = 0
            var bytes = 0
            var kept: [UInt8] = []
            var waiters: [(Int, CheckedContinuation<Void, Never>)] = []
        }
        let state = Mutex(State())

        func connected() { state.withLock { $0.connections += 1 } }

        func read(_ buffer: ByteBuffer) {
            let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.bytes += buffer.readableBytes
                if s.kept.count < 1 << 20 { s.kept += buffer.readableBytesView.prefix((1 << 20) - s.kept.count) }
                let total = s.bytes
                let done = s.waiters.filter { $0.0 <= total }.map(\.1)
                s.waiters.removeAll { $0.0 <= total }
                return done
            }
            for c in ready { c.resume() }
        }
    }

    /// Sits in front of the echo handler: counts, keeps, passes everything on.
    final class Tap: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        let recorder: Recorder
        init(_ recorder: Recorder) { self.recorder = recorder }

        func channelActive(context: ChannelHandlerContext) {
            recorder.connected()
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            recorder.read(unwrapInboundIn(data))
            context.fireChannelRead(data)
        }
    }
}
