import NIOCore
import NIOPosix
import Testing

@testable import PortcullisProxy

/// A header field line over `limits.max_header_line_bytes` is refused by the gateway with 431,
/// before routing: the upstream never sees it.
@Suite struct HeaderLineLimitTests {
    func config(_ upstreamPort: Int, limits: String = "") -> String {
        """
        workers: 1
        access_log: off
        listeners: [{ name: public, listen: "127.0.0.1:0" }]
        \(limits)
        apis:
          - name: any
            stage: demo
            routes: [{ path: /who, upstream: pool }]
        upstreams:
          pool: { endpoints: ["http://127.0.0.1:\(upstreamPort)"] }
        """
    }

    /// Sends one request with an extra header line of `lineBytes` (`name: value`, CRLF not counted).
    func send(_ h: Harness, lineBytes: Int, name: String = "X-Long") throws -> (RawConnection, RawResponse) {
        let value = String(repeating: "v", count: lineBytes - name.utf8.count - 2)
        let c = try h.connect()
        c.send("GET /demo/who HTTP/1.1\r\nHost: x\r\n\(name): \(value)\r\n\r\n")
        return (c, try c.readResponse())
    }

    @Test func headerLineOverTheLimitIs431AndNeverReachesTheUpstream() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await RecordingEcho.start(group: group)
        let h = try await Harness(config(upstream.port), startEcho: false)

        let (c, r) = try send(h, lineBytes: 8193)
        #expect(r.status == 431)
        #expect(r.header("Connection") == "close")
        #expect(c.waitForClose())
        let longName = String(repeating: "n", count: 8193)
        let (_, byName) = try send(h, lineBytes: 8193 + 3, name: longName)
        #expect(byName.status == 431)

        // A line exactly at the limit is forwarded. Once the upstream has answered it, it has
        // seen everything the gateway sent it: one request, and no trace of the refused ones.
        let (_, ok) = try send(h, lineBytes: 8192)
        #expect(ok.status == 200)
        #expect(upstream.connections == 1)
        let seen = upstream.receivedText
        #expect(seen.components(separatedBy: "GET /who").count == 2)
        #expect(!seen.contains(String(repeating: "v", count: 8193 - 8)))
        #expect(!seen.contains(longName))

        await h.stop()
        await upstream.close()
        try? await group.shutdownGracefully()
    }

    @Test func configuredLimitIsHonoured() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await RecordingEcho.start(group: group)
        let h = try await Harness(config(upstream.port, limits: "limits: { max_header_line_bytes: 1KiB }"), startEcho: false)
        #expect(try send(h, lineBytes: 1025).1.status == 431)
        #expect(upstream.bytesReceived == 0)
        #expect(try send(h, lineBytes: 1024).1.status == 200)
        await h.stop()
        await upstream.close()
        try? await group.shutdownGracefully()
    }
}
