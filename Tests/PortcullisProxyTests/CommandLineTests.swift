import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import PortcullisProxy

/// The built `portcullis` binary as a user runs it: systemd notifications, SIGHUP reload,
/// SIGTERM drain with a request in flight, the access log.
@Suite(.serialized) struct CommandLineTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var binary: String { root.appendingPathComponent(".build/debug/portcullis").path }

    /// A datagram socket standing in for systemd's NOTIFY_SOCKET.
    final class NotifySocket {
        let fd: Int32
        let path: String
        init(dir: URL) {
            path = dir.appendingPathComponent("notify.sock").path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in path.utf8.enumerated() { p[i] = b } }
            _ = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            var tv = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        /// The next notification, or "<timeout>" after 10 s. The blocking receive runs on NIO's
        /// thread pool: blocking a thread of the cooperative pool (two on a 2-core CI machine)
        /// stalls every other test of the run meanwhile.
        func next() async -> String {
            let fd = self.fd
            let text = try? await NIOThreadPool.singleton.runIfActive { () -> String in
                var buf = [UInt8](repeating: 0, count: 4096)
                let n = recv(fd, &buf, buf.count, 0)
                return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : "<timeout>"
            }
            return text ?? "<timeout>"
        }
        deinit { close(fd) }
    }

    /// Polls until connects to 127.0.0.1:`port` are refused (the listener is closed); false if
    /// they still succeed after `within`.
    static func waitUntilRefused(port: Int, within: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            guard (try? RawConnection(port: port)) != nil else { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    func freePort() throws -> Int {
        let s = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        let p = s.localAddress!.port!
        try s.close().wait()
        return p
    }

    /// Writes `config` to `dir/p.yaml` and starts `portcullis run` on it with a stand-in
    /// NOTIFY_SOCKET (plus `environment`); the caller waits for READY=1 on the socket.
    func launch(_ config: String, in dir: URL, environment: [String: String] = [:], stderr: Pipe? = nil) throws -> (Process, NotifySocket) {
        let configPath = dir.appendingPathComponent("p.yaml").path
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let notify = NotifySocket(dir: dir)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["run", "--config", configPath, "--log-level", "warning"]
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = notify.path
        for (k, v) in environment { env[k] = v }
        p.environment = env
        if let stderr { p.standardError = stderr }
        try p.run()
        return (p, notify)
    }

    @Test func notifiesSystemdReloadsOnHupAndDrainsOnTerm() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            Issue.record("build the binary first (swift build): \(Self.binary)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let echo = try await EchoServer.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton)
        let held = HeldUpstream()
        let holder = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(held) } }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try freePort()
        let logPath = dir.appendingPathComponent("access.log").path
        let configPath = dir.appendingPathComponent("p.yaml").path
        func config(_ route: String) -> String {
            """
            workers: 1
            access_log: \(logPath)
            shutdown_grace: 5s
            listeners: [{ name: public, listen: "127.0.0.1:\(port)" }]
            apis:
              - name: demo
                stage: demo
                routes: [{ path: \(route), upstream: b }, { path: /slow, upstream: held }]
            upstreams:
              b: { endpoints: ["http://127.0.0.1:\(echo.localAddress!.port!)"] }
              held: { endpoints: ["http://127.0.0.1:\(holder.localAddress!.port!)"] }
            """
        }
        try config("/one").write(toFile: configPath, atomically: true, encoding: .utf8)
        let notify = NotifySocket(dir: dir)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["run", "--config", configPath, "--log-level", "warning"]
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = notify.path
        p.environment = env
        let err = Pipe()
        p.standardError = err
        try p.run()
        defer { if p.isRunning { p.terminate() } }

        #expect(await notify.next().hasPrefix("READY=1"))
        #expect(try RawConnectionGet(port, "/demo/one") == 200)

        // SIGHUP with a new file: RELOADING=1 with MONOTONIC_USEC, then READY=1; the new route is live.
        try config("/two").write(toFile: configPath, atomically: true, encoding: .utf8)
        kill(p.processIdentifier, SIGHUP)
        let reloading = await notify.next()
        #expect(reloading.hasPrefix("RELOADING=1\nMONOTONIC_USEC="))
        #expect(await notify.next().hasPrefix("READY=1"))
        #expect(try RawConnectionGet(port, "/demo/two") == 200)
        #expect(try RawConnectionGet(port, "/demo/one") == 403)

        // A broken file: the error is reported and the running config stays.
        try config("/three").replacingOccurrences(of: "upstream: b }, { path: /slow", with: "upstream: bb }, { path: /slow")
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        kill(p.processIdentifier, SIGHUP)
        _ = await notify.next()
        _ = await notify.next()
        #expect(try RawConnectionGet(port, "/demo/two") == 200)

        // SIGTERM while a request is in flight: it completes (with Connection: close), then the process exits 0.
        let slow = try RawConnection(port: port)
        slow.send("GET /demo/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await held.waitUntilHolding()
        let holdStart = ContinuousClock.now
        kill(p.processIdentifier, SIGTERM)
        #expect(await notify.next() == "STOPPING=1")
        // The answer must leave after the drain began. The loop marks itself draining before it
        // closes its listener, so a refused connect shows it; the child process gives no other sign,
        // so this polls, with a deadline.
        #expect(try await Self.waitUntilRefused(port: port, within: .seconds(10)))
        held.release()
        let heldFor = ContinuousClock.now - holdStart
        let r = try slow.readResponse()
        #expect(r.status == 200)
        #expect(r.header("Connection") == "close", "\(r.headers)")
        await p.exited()
        #expect(p.terminationStatus == 0)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(stderr.contains(#"apis[0].routes[0].upstream: unknown upstream "bb"; did you mean "b"?"#))

        // The access log has one JSON line per request, with the fields operators grep for.
        let lines = try String(contentsOfFile: logPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 5)
        let last = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any] ?? [:]
        #expect(last["path"] as? String == "/demo/slow")
        #expect(last["status"] as? Int == 200)
        #expect(last["resourcePath"] as? String == "/slow")
        #expect((last["requestId"] as? String)?.count == 36)
        // The proxy's upstream time includes the whole hold, as the test measured it.
        let heldMs = Double(heldFor.components.seconds) * 1000 + Double(heldFor.components.attoseconds) / 1e15
        #expect((last["integrationLatency"] as? Double ?? 0) >= heldMs.rounded(.down) - 1)
        let refused = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["status"] as? Int == 403 }
        #expect(refused?["error"] as? [String: String] == ["responseType": "MISSING_AUTHENTICATION_TOKEN", "reason": "no route for GET /demo/one"])
        try await echo.close()
        try await holder.close()
    }

    /// SIGUSR1 reopens the access-log file by name, as logrotate expects: after a rename, new
    /// lines go to a new file of the old name; no line is lost between the two.
    @Test func sigusr1ReopensTheAccessLog() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            Issue.record("build the binary first (swift build): \(Self.binary)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-usr1-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let echo = try await EchoServer.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton)
        let port = try freePort()
        let log = dir.appendingPathComponent("access.log").path
        let (p, notify) = try launch("""
            workers: 1
            access_log: \(log)
            listeners: [{ name: public, listen: "127.0.0.1:\(port)" }]
            apis: [{ name: demo, stage: demo, routes: [{ path: /x, upstream: b }] }]
            upstreams: { b: { endpoints: ["http://127.0.0.1:\(echo.localAddress!.port!)"] } }
            """, in: dir)
        defer { if p.isRunning { p.terminate() } }
        #expect(await notify.next().hasPrefix("READY=1"))
        var sent = 0
        for _ in 0..<3 { #expect(try RawConnectionGet(port, "/demo/x") == 200); sent += 1 }
        func lines(_ path: String) -> Int { ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").count }
        // The loop writes its lines every 100 ms: wait until the first three are in the file.
        let deadline = ContinuousClock.now + .seconds(10)
        while lines(log) < 3 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        kill(p.processIdentifier, SIGUSR1)
        // Requests until the new file appears with a line (the reopen is asynchronous).
        while !FileManager.default.fileExists(atPath: log) || lines(log) == 0 {
            guard ContinuousClock.now < deadline + .seconds(10) else { break }
            #expect(try RawConnectionGet(port, "/demo/x") == 200)
            sent += 1
            try await Task.sleep(for: .milliseconds(20))
        }
        p.terminate()
        await p.exited()
        #expect(p.terminationStatus == 0)
        #expect(lines(log) >= 1, "no new file after SIGUSR1")
        #expect(lines(log + ".1") >= 3)
        #expect(lines(log) + lines(log + ".1") == sent)
        try await echo.close()
    }

    /// systemd's watchdog (`WatchdogSec=` sets WATCHDOG_USEC): WATCHDOG=1 after READY=1, again at
    /// half the interval, each one only after every event loop ran a task.
    @Test func pingsTheSystemdWatchdog() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            Issue.record("build the binary first (swift build): \(Self.binary)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-wd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = try freePort()
        let err = Pipe()
        let (p, notify) = try launch("""
            workers: 2
            access_log: off
            listeners: [{ name: public, listen: "127.0.0.1:\(port)" }]
            apis: [{ name: demo, stage: demo, routes: [{ path: /x, upstream: b }] }]
            upstreams: { b: { endpoints: ["http://127.0.0.1:9"] } }
            """, in: dir, environment: ["WATCHDOG_USEC": "200000"], stderr: err)
        defer { if p.isRunning { p.terminate() } }
        #expect(await notify.next().hasPrefix("READY=1"))
        #expect(await notify.next() == "WATCHDOG=1")
        #expect(await notify.next() == "WATCHDOG=1")
        p.terminate()
        await p.exited()
        #expect(p.terminationStatus == 0)
        // The watchdog stops before the loops: no task is scheduled on a loop that shut down.
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(!stderr.contains("Cannot schedule tasks"), "\(stderr)")
    }

    /// `portcullis explain` as a user runs it: exit 0 admitted, 1 refused, 2 config errors (printed
    /// like `check`), 3 undecided offline, 64 bad arguments; `--json` is JSON with the verdict.
    @Test func explainExitCodesAndJSON() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            Issue.record("build the binary first (swift build): \(Self.binary)")
            return
        }
        let config = Self.root.appendingPathComponent("config")
        let privateAPI = config.appendingPathComponent("private-api.yaml").path
        let refused = try runTool([Self.binary, "explain", "-c", privateAPI, "GET", "/internal/reports"])
        #expect(refused.code == 1)
        #expect(refused.out.contains("1 private endpoint"))
        #expect(refused.out.contains(#"answer: 403 FORBIDDEN {"message":"Forbidden"}"#))
        let admitted = try runTool([Self.binary, "explain", "-c", privateAPI, "--listener", "vpc", "--json", "GET", "http://127.0.0.1:8090/internal/reports?x=1"])
        #expect(admitted.code == 0)
        let json = try JSONSerialization.jsonObject(with: Data(admitted.out.utf8)) as? [String: Any]
        #expect(json?["verdict"] as? String == "admitted")
        #expect((json?["upstream"] as? [String: Any])?["request"].flatMap { ($0 as? [String])?.first } == "GET /reports?x=1 HTTP/1.1")
        let denied = try runTool([Self.binary, "explain", "-c", privateAPI, "--json", "GET", "/internal/reports"])
        #expect(denied.code == 1)
        let answer = (try JSONSerialization.jsonObject(with: Data(denied.out.utf8)) as? [String: Any])?["answer"] as? [String: Any]
        #expect(answer?["status"] as? Int == 403)
        #expect(answer?["gateway_response"] as? String == "FORBIDDEN")
        let undecided = try runTool([
            Self.binary, "explain", "-c", config.appendingPathComponent("part1-cognito.yaml").path,
            "-H", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4In0.c2ln", "GET", "/demo/profile",
        ])
        #expect(undecided.code == 3)
        #expect(undecided.out.contains("undecided offline"))
        let unknownListener = try runTool([Self.binary, "explain", "-c", privateAPI, "--listener", "nope", "GET", "/x"])
        #expect(unknownListener.code == 64)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-explain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let broken = dir.appendingPathComponent("broken.yaml").path
        try "listeners: [{ name: public, listen: \"127.0.0.1:0\" }]\napis: [{ name: a, routes: [{ path: /x, upstream: nowhere }] }]\n"
            .write(toFile: broken, atomically: true, encoding: .utf8)
        let bad = try runTool([Self.binary, "explain", "-c", broken, "GET", "/x"])
        #expect(bad.code == 2)
        #expect(bad.err.contains("broken.yaml:"))
    }
}

func RawConnectionGet(_ port: Int, _ path: String) throws -> Int {
    let c = try RawConnection(port: port)
    c.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
    return try c.readResponse().status
}

extension Process {
    /// Waits for the process to exit on NIO's thread pool rather than blocking a thread of the
    /// cooperative pool (see `NotifySocket.next()`).
    func exited() async {
        nonisolated(unsafe) let process = self
        _ = try? await NIOThreadPool.singleton.runIfActive { process.waitUntilExit() }
    }
}
