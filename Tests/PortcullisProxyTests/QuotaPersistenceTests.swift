import Foundation
import NIOPosix
import PortcullisCore
import PortcullisThrottle
import Testing

@testable import PortcullisProxy

/// Quota counts survive the process, even `kill -9`: the real binary counts, its store under
/// state_dir shows the counts within about a second, and a new process goes on from them.
@Suite struct QuotaPersistenceTests {
    static let key = "persist-key-0123456789abcdefghijklmn"

    @Test func countsSurviveKillNine() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-quota-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let echo = try await EchoServer.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton)
        let port = try CommandLineTests().freePort()
        let configPath = dir.appendingPathComponent("p.yaml").path
        try """
            workers: 2
            access_log: off
            state_dir: state
            listeners: [{ name: public, listen: "127.0.0.1:\(port)" }]
            usage_plans:
              basic: { stages: [{ api: demo, stage: demo }], quota: { limit: 5, period: DAY } }
            api_keys: { keys: [{ id: k1, usage_plans: [basic], value: "\(Self.key)" }] }
            apis:
              - { name: demo, stage: demo, routes: [{ path: /items, upstream: b, api_key_required: true }] }
            upstreams:
              b: { endpoints: ["http://127.0.0.1:\(echo.localAddress!.port!)"] }
            """.write(toFile: configPath, atomically: true, encoding: .utf8)

        func start(_ n: Int) async throws -> (Process, CommandLineTests.NotifySocket) {
            // A notify socket of its own per process (the path must be new).
            let socketDir = dir.appendingPathComponent("notify-\(n)")
            try FileManager.default.createDirectory(at: socketDir, withIntermediateDirectories: true)
            let notify = CommandLineTests.NotifySocket(dir: socketDir)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CommandLineTests.binary)
            p.arguments = ["run", "--config", configPath, "--log-level", "warning"]
            var env = ProcessInfo.processInfo.environment
            env["NOTIFY_SOCKET"] = notify.path
            p.environment = env
            p.standardError = FileHandle.nullDevice
            try p.run()
            #expect(await notify.next().hasPrefix("READY=1"))
            return (p, notify)
        }
        func get() throws -> RawResponse {
            let c = try RawConnection(port: port)
            c.send("GET /demo/items HTTP/1.1\r\nHost: x\r\nx-api-key: \(Self.key)\r\n\r\n")
            return try c.readResponse()
        }

        let (first, _) = try await start(1)
        for _ in 0..<3 { #expect(try get().status == 200) }
        // The counts reach the store within about a second: wait for that (with a deadline), then kill.
        let store = try SQLiteQuotaStore(path: dir.appendingPathComponent("state/quota.sqlite").path)
        let now = Int64(JWTClock.system.now())
        let deadline = ContinuousClock.now + .seconds(20)
        var stored: Int64 = 0
        while ContinuousClock.now < deadline {
            stored = (try? store.used(counter: "quota:basic:key:k1", from: QuotaPeriod.DAY.start(of: now), to: QuotaPeriod.DAY.end(of: now))) ?? 0
            if stored >= 3 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(stored == 3)
        kill(first.processIdentifier, SIGKILL)
        await first.exited()

        // A new process goes on from 3 of 5.
        let (second, _) = try await start(2)
        defer { if second.isRunning { second.terminate() } }
        #expect(try get().status == 200)
        #expect(try get().status == 200)
        let over = try get()
        #expect(over.status == 429)
        #expect(over.bodyText == #"{"message":"Limit Exceeded"}"#)
        second.terminate()
        await second.exited()
        // A clean stop writes what was counted last.
        #expect(try store.used(counter: "quota:basic:key:k1", from: QuotaPeriod.DAY.start(of: now), to: QuotaPeriod.DAY.end(of: now)) == 5)

        // The same counts in API Gateway's GetUsage shape: [used, remaining] per day.
        let (y, m, d) = QuotaPeriod.civil(now / 86_400)
        let today = String(format: "%04d-%02d-%02d", y, m, d)
        let usage = try runTool([CommandLineTests.binary, "keys", "usage", "--config", configPath, "--plan", "basic", "--start", today, "--end", today])
        #expect(usage.code == 0, "\(usage.err)")
        #expect(usage.out.trimmingCharacters(in: .whitespacesAndNewlines)
            == #"{"usagePlanId":"basic","startDate":"\#(today)","endDate":"\#(today)","values":{"k1":[[5,0]]}}"#, "\(usage.out)")
    }

    /// A state_dir that cannot hold the store: `open` (the default) admits and counts in memory,
    /// `closed` refuses requests that need a quota with 500; other routes are not affected.
    @Test(arguments: ["open", "closed"])
    func unusableStore(policy: String) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-badstore-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let blocker = dir.appendingPathComponent("not-a-dir")
        try Data("x".utf8).write(to: blocker)  // a file where the state folder should be
        let h = try await Harness(
            """
            access_log: off
            state_dir: \(blocker.path)
            on_store_error: \(policy)
            listeners: [{ name: public, listen: "127.0.0.1:0" }]
            usage_plans:
              basic: { stages: [{ api: demo, stage: demo }], quota: { limit: 5, period: DAY } }
            api_keys: { keys: [{ id: k1, usage_plans: [basic], value: "\(Self.key)" }] }
            apis:
              - { name: demo, stage: demo, routes: [{ path: /items, upstream: b, api_key_required: true }, { path: /open, upstream: b }] }
            upstreams:
              b: { endpoints: ["http://${ECHO}"] }
            """)
        do {
            let r = try h.get("/demo/items", headers: ["x-api-key": Self.key])
            #expect(r.status == (policy == "open" ? 200 : 500), "\(policy)")
            #expect(try h.get("/demo/open").status == 200)
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }
}
