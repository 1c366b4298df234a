import NIOCore
import NIOPosix
import PortcullisHTTPClient
import Testing

/// The client against a scripted loopback server: framing, keep-alive, closes, caps, deadlines.
/// Everything waits on futures; nothing sleeps.
@Suite("HTTP client over loopback")
struct HTTPClientTests {
    func url(_ server: ScriptedServer, _ target: String = "/") -> HTTPURL {
        HTTPURL("http://127.0.0.1:\(server.port)\(target)")!
    }

    func withClient(
        _ configuration: HTTPClientConfiguration = HTTPClientConfiguration(), script: @escaping ScriptedServer.Script,
        _ body: (HTTPClient, ScriptedServer, any EventLoop) throws -> Void
    ) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try ScriptedServer(group: group, script: script)
        defer { try? server.stop() }
        try body(HTTPClient(group: group, configuration: configuration), server, group.next())
    }

    @Test func keepAliveReusesOneConnection() throws {
        try withClient(script: { r in .respond(Responses.ok("answer \(r.index)")) }) { client, server, loop in
            let first = try client.execute(HTTPClientRequest(url: url(server, "/a?x=1")), timeout: .seconds(5), on: loop).wait()
            let second = try client.execute(HTTPClientRequest(url: url(server, "/b")), timeout: .seconds(5), on: loop).wait()
            #expect(first.status == 200)
            #expect(String(decoding: first.body, as: UTF8.self) == "answer 0")
            #expect(String(decoding: second.body, as: UTF8.self) == "answer 1")
            #expect(server.accepted == 1)
            #expect(server.received.map(\.requestLine) == ["GET /a?x=1 HTTP/1.1", "GET /b HTTP/1.1"])
            #expect(server.received.first?.header("host") == "127.0.0.1:\(server.port)")
            #expect(try client.idleConnectionCount(on: loop).wait() == 1)
        }
    }

    @Test func idleConnectionsAreCappedPerKeyAndTimeOut() throws {
        let config = HTTPClientConfiguration(idleTimeout: .milliseconds(100), maxIdlePerKey: 1)
        try withClient(config, script: { _ in .respond(Responses.ok("x")) }) { client, server, loop in
            // Two requests at once: two connections; only one may stay idle afterwards. Both are
            // started in one task on the loop: started from this thread one after the other, the
            // first could finish in between on a loaded machine and lend the second its connection.
            let target = url(server)
            let both = try loop.submit {
                (0..<2).map { _ in client.execute(HTTPClientRequest(url: target), timeout: .seconds(5), on: loop) }
            }.wait()
            for f in both { _ = try f.wait() }
            // Not two connections: the waits below would never end (connection 1 never came).
            try #require(server.accepted == 2)
            #expect(try client.idleConnectionCount(on: loop).wait() == 1)
            // The one over the cap is closed at once, the idle one when its timer fires.
            try server.closeOf(connection: 0).wait()
            try server.closeOf(connection: 1).wait()
            #expect(try client.idleConnectionCount(on: loop).wait() == 0)
        }
    }

    @Test func postBodyArrivesIntactWithContentLength() throws {
        let body = Array("{\"type\":\"REQUEST\",\"pad\":\"\(String(repeating: "x", count: 100_000))\"}".utf8)
        try withClient(script: { _ in .respond(Responses.ok("{\"ok\":true}")) }) { client, server, loop in
            let request = HTTPClientRequest(
                method: "POST", url: url(server, "/authorize"), headers: [("Content-Type", "application/json")], body: body)
            let response = try client.execute(request, timeout: .seconds(5), on: loop).wait()
            #expect(String(decoding: response.body, as: UTF8.self) == "{\"ok\":true}")
            let got = try #require(server.received.first)
            #expect(got.requestLine == "POST /authorize HTTP/1.1")
            #expect(got.header("content-length") == "\(body.count)")
            #expect(got.header("content-type") == "application/json")
            #expect(got.body == body)
        }
    }

    @Test func chunkedResponseIsDechunked() throws {
        try withClient(script: { _ in .respond(Responses.chunked(["{\"keys\":", "[]", "}"])) }) { client, server, loop in
            let response = try client.execute(HTTPClientRequest(url: url(server)), timeout: .seconds(5), on: loop).wait()
            #expect(String(decoding: response.body, as: UTF8.self) == "{\"keys\":[]}")
            // The chunked response ended cleanly: the connection is reused.
            _ = try client.execute(HTTPClientRequest(url: url(server)), timeout: .seconds(5), on: loop).wait()
            #expect(server.accepted == 1)
        }
    }

    @Test func closeDelimitedResponseIsNotReused() throws {
        try withClient(script: { r in .respondAndClose(Responses.closeDelimited("until close \(r.connection)")) }) { client, server, loop in
            let first = try client.execute(HTTPClientRequest(url: url(server)), timeout: .seconds(5), on: loop).wait()
            #expect(String(decoding: first.body, as: UTF8.self) == "until close 0")
            #expect(first.header("content-type") == "text/plain")
            let second = try client.execute(HTTPClientRequest(url: url(server)), timeout: .seconds(5), on: loop).wait()
            #expect(String(decoding: second.body, as: UTF8.self) == "until close 1")
            #expect(server.accepted == 2)
            #expect(try client.idleConnectionCount(on: loop).wait() == 0)
        }
    }

    @Test func bodyOverTheCapFails() throws {
        let config = HTTPClientConfiguration(maxResponseBytes: 100)
        let big = String(repeating: "y", count: 1000)
        try withClient(config, script: { r in
            .respond(r.index == 0 ? Responses.ok(big) : Responses.chunked([big]))
        }) { client, server, loop in
            // Declared too large: refused at the head.
            #expect(throws: HTTPClientError.tooLarge(100)) {
                try client.execute(HTTPClientRequest(url: url(server)), timeout: .seconds(5), on: loop).wait()
            }
            // Chunked, found too large while reading.
            #expect(throws: HTTPClientError.tooLarge(100)) {
                try client.execute(HTTPClientRequest(url: url(server)), timeout: .seconds(5), on: loop).wait()
            }
        }
    }

    @Test func deadlineAgainstASilentServer() throws {
        try withClient(script: { _ in .silent }) { client, server, loop in
            #expect(throws: HTTPClientError.timedOut) {
                try client.execute(HTTPClientRequest(url: url(server)), timeout: .milliseconds(200), on: loop).wait()
            }
            // The deadline closed that connection: the server sees it go.
            try server.closeOf(connection: 0).wait()
            #expect(try client.idleConnectionCount(on: loop).wait() == 0)
        }
    }

    @Test func connectionClosedByServerWhileIdleIsNotUsed() throws {
        // Keep-alive response, then the server closes the connection as if its idle timer fired.
        try withClient(script: { r in .respondAndClose(Responses.ok("from \(r.connection)")) }) { client, server, loop in
            let first = try client.execute(HTTPClientRequest(url: url(server)), timeout: .seconds(5), on: loop).wait()
            #expect(String(decoding: first.body, as: UTF8.self) == "from 0")
            try server.closeOf(connection: 0).wait()
            let second = try client.execute(HTTPClientRequest(url: url(server)), timeout: .seconds(5), on: loop).wait()
            #expect(String(decoding: second.body, as: UTF8.self) == "from 1")
            #expect(server.accepted == 2)
        }
    }

    @Test func reusedConnectionDroppedBeforeAnswerIsRetriedOnce() throws {
        // The first connection answers one request and drops the next one unanswered (the race
        // with a server's idle close): the request goes again on a fresh connection.
        try withClient(script: { r in
            r.connection == 0 && r.index == 1 ? .close : .respond(Responses.ok("c\(r.connection) r\(r.index)"))
        }) { client, server, loop in
            _ = try client.execute(HTTPClientRequest(url: url(server)), timeout: .seconds(5), on: loop).wait()
            let body = Array("same bytes".utf8)
            let request = HTTPClientRequest(method: "POST", url: url(server, "/again"), body: body, retryable: true)
            let second = try client.execute(request, timeout: .seconds(5), on: loop).wait()
            #expect(String(decoding: second.body, as: UTF8.self) == "c1 r0")
            #expect(server.accepted == 2)
            #expect(server.received.filter { $0.requestLine.hasPrefix("POST") }.map(\.body) == [body, body])
        }
    }

    @Test func aPOSTIsNotRepeatedUnlessTheCallerSaysSo() throws {
        // The same race, with a plain POST: the server may have acted on it, so it is not resent.
        try withClient(script: { r in
            r.connection == 0 && r.index == 1 ? .close : .respond(Responses.ok("c\(r.connection) r\(r.index)"))
        }) { client, server, loop in
            _ = try client.execute(HTTPClientRequest(url: url(server)), timeout: .seconds(5), on: loop).wait()
            #expect(HTTPClientRequest(method: "GET", url: url(server)).retryable)
            let post = HTTPClientRequest(method: "POST", url: url(server, "/once"), body: Array("x".utf8))
            #expect(!post.retryable)
            #expect(throws: HTTPClientError.self) { try client.execute(post, timeout: .seconds(5), on: loop).wait() }
            #expect(server.accepted == 1)
        }
    }

    @Test func aFreshConnectionClosedEarlyIsNotRetried() throws {
        try withClient(script: { _ in .close }) { client, server, loop in
            #expect(throws: HTTPClientError.closedEarly) {
                try client.execute(HTTPClientRequest(url: url(server)), timeout: .seconds(5), on: loop).wait()
            }
            #expect(server.accepted == 1)
        }
    }

    @Test func refusedConnectionIsConnectFailed() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try ScriptedServer(group: group) { _ in .silent }
        let port = server.port
        try server.stop()
        let client = HTTPClient(group: group)
        let error = #expect(throws: HTTPClientError.self) {
            try client.execute(HTTPClientRequest(url: HTTPURL("http://127.0.0.1:\(port)/")!), timeout: .seconds(5), on: group.next()).wait()
        }
        guard case .connectFailed = error else { Issue.record("expected connectFailed, got \(String(describing: error))"); return }
    }

    @Test func requestFromAForeignLoopIsAnsweredThere() throws {
        let other = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? other.syncShutdownGracefully() }
        try withClient(script: { _ in .respond(Responses.ok("hi")) }) { client, server, _ in
            let foreign = other.next()
            let future = client.execute(HTTPClientRequest(url: url(server)), timeout: .seconds(5), on: foreign)
            let sameLoop = future.eventLoop === foreign
            #expect(sameLoop)
            let response = try future.wait()
            #expect(response.status == 200)
        }
    }

    @Test func framingHeadersAndLineBreaksAreRefused() throws {
        try withClient(script: { _ in .silent }) { client, server, loop in
            for headers in [[("Content-Length", "5")], [("X-A", "b\r\nX-Injected: 1")], [("Bad Name", "v")]] {
                let error = #expect(throws: HTTPClientError.self) {
                    try client.execute(HTTPClientRequest(url: url(server), headers: headers), timeout: .seconds(5), on: loop).wait()
                }
                guard case .invalidRequest = error else { Issue.record("expected invalidRequest, got \(String(describing: error))"); continue }
            }
            #expect(server.accepted == 0)
        }
    }
}
