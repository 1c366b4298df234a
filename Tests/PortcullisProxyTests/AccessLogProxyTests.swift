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

    /// Who the caller was stays in the line of a refusal that came after admission knew it (the key
    /// of a throttled request); an `auth:` entry's refusal fills `authorizer.error`, a later
    /// phase's does not; `responseLength` is the body alone, as API Gateway counts it.
    @Test func refusalsKeepTheCallerAndNameTheAuthorizersReason() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-log-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let logPath = dir + "/access.log"
        let h = try await Harness(
            """
            workers: 1
            access_log: \(logPath)
            listeners: [{ name: public, listen: "127.0.0.1:0" }]
            authorizers:
              office: { type: ip, allow: [10.0.0.0/8] }
            usage_plans:
              tiny: { stages: [{ api: demo, stage: demo }], throttle: { rate: 0.001, burst: 1 } }
            api_keys:
              keys: [{ id: k-tiny, usage_plans: [tiny], value: key-value-tiny-0123456789 }]
            apis:
              - name: demo
                stage: demo
                routes:
                  - { path: /keyed, upstream: backend, api_key_required: true }
                  - { path: /office, upstream: backend, auth: [office] }
            upstreams:
              backend: { endpoints: ["http://${ECHO}"] }
            """)
        do {
            let key = ["x-api-key": "key-value-tiny-0123456789"]
            let ok = try h.get("/demo/keyed", headers: key)
            #expect(ok.status == 200)
            let throttled = try h.get("/demo/keyed", headers: key)
            #expect(throttled.status == 429)
            let office = try h.get("/demo/office")
            #expect(office.status == 403)
            func rows() -> [[String: Any]] {
                ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }
            }
            try await waitUntil("three lines") { rows().count == 3 }
            let lines = rows()
            func identity(_ r: [String: Any]) -> [String: Any] { r["identity"] as? [String: Any] ?? [:] }
            func authorizer(_ r: [String: Any]) -> [String: Any] { r["authorizer"] as? [String: Any] ?? [:] }
            // The admitted request and the throttled one name the key; a key is no principal.
            #expect(identity(lines[0])["apiKeyId"] as? String == "k-tiny")
            #expect(authorizer(lines[0])["principalId"] is NSNull)
            #expect(identity(lines[1])["apiKeyId"] as? String == "k-tiny")
            #expect((lines[1]["error"] as? [String: Any])?["responseType"] as? String == "THROTTLED")
            #expect(authorizer(lines[1])["error"] is NSNull)
            // The ip rule refused: its reason is the authorizer's error.
            #expect((authorizer(lines[2])["error"] as? String)?.isEmpty == false)
            // The body alone: the echo's JSON, and the gateway's own {"message":...}.
            #expect(lines[0]["responseLength"] as? Int == ok.body.count)
            #expect(lines[2]["responseLength"] as? Int == office.body.count)
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }
}
