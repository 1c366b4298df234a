import Foundation
import Testing

@testable import PortcullisProxy

/// The access log as an operator reads it: API Gateway's `$context` names, the client behind a
/// trusted proxy, and sampling that thins out a busy route's successes but never its errors.
@Suite struct AccessLogProxyTests {
    @Test func sampledRouteLogsItsErrorsButNotItsSuccesses() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-log-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let logPath = dir + "/access.log"
        let h = try await Harness(
            """
            workers: 1
            access_log: { path: \(logPath), sample: 1 }
            trusted_proxies: [127.0.0.0/8]
            listeners: [{ name: public, listen: "127.0.0.1:0" }]
            apis:
              - name: demo
                id: abcdef1234
                stage: demo
                routes:
                  - { path: /health, upstream: backend, access_log_sample: 0 }
                  - { path: "/items/{id}", upstream: backend }
            upstreams:
              backend: { endpoints: ["http://${ECHO}"] }
            """)
        do {
            for _ in 0..<20 { #expect(try h.get("/demo/health").status == 200) }
            #expect(try h.get("/demo/health?status=503").status == 503)
            #expect(try h.get("/demo/nope").status == 403)
            #expect(try h.get("/demo/items/7", headers: ["X-Forwarded-For": "203.0.113.9"]).status == 200)
            func rows() -> [[String: Any]] {
                ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }
            }
            // One loop writes its lines in order: once the last request's line is there, all are.
            try await waitUntil("the last request's line") { rows().contains { $0["path"] as? String == "/demo/items/7" } }
            let lines = rows()
            #expect(lines.count == 3, "\(lines)")
            #expect(!lines.contains { $0["resourcePath"] as? String == "/health" && $0["status"] as? Int == 200 })
            let failed = lines.first { $0["resourcePath"] as? String == "/health" }
            #expect(failed?["status"] as? Int == 503)
            let unrouted = lines.first { $0["status"] as? Int == 403 }
            #expect(unrouted?["resourcePath"] is NSNull)
            #expect(unrouted?["error"] as? [String: String] == ["responseType": "MISSING_AUTHENTICATION_TOKEN", "reason": "no route for GET /demo/nope"])
            let item = lines.last
            #expect(item?["resourcePath"] as? String == "/items/{id}")
            #expect(item?["apiId"] as? String == "abcdef1234")
            #expect(item?["stage"] as? String == "demo")
            #expect(item?["httpMethod"] as? String == "GET")
            #expect((item?["identity"] as? [String: Any])?["sourceIp"] as? String == "203.0.113.9")
            #expect((item?["integrationLatency"] as? Double ?? -1) >= 0)
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }
}
