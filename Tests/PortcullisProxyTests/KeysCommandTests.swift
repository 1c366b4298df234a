import Foundation
import Testing

@testable import PortcullisProxy

/// `portcullis keys` as an operator runs it, and the keys it writes used by the gateway; and the
/// workshop's API-key example.
@Suite struct KeysCommandTests {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-keyscli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func keys(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        try runTool([CommandLineTests.binary, "keys"] + args)
    }

    var config: String {
        """
        workers: 1
        access_log: off
        listeners: [{ name: public, listen: "127.0.0.1:0" }]
        usage_plans:
          basic: { stages: [{ api: demo, stage: demo }], quota: { limit: 100, period: DAY } }
          gold: { stages: [{ api: other, stage: other }] }
        api_keys: { file: \(dir.path)/keys.yaml }
        apis:
          - { name: demo, stage: demo, routes: [{ path: /items, upstream: backend, api_key_required: true }] }
          - { name: other, stage: other, routes: [{ path: /x, upstream: backend }] }
        upstreams:
          backend: { endpoints: ["http://${ECHO}"] }
        """
    }

    @Test func createListDisableAndUseAKey() async throws {
        let configFile = dir.appendingPathComponent("portcullis.yaml").path
        try config.replacingOccurrences(of: "${ECHO}", with: "127.0.0.1:9").write(toFile: configFile, atomically: true, encoding: .utf8)
        let made = try keys(["create", "--config", configFile, "--name", "alice", "--plan", "basic", "--description", "first key"])
        try #require(made.code == 0, "\(made.err)")
        let id = try #require(made.out.split(separator: "\n").first { $0.hasPrefix("id: ") }.map { String($0.dropFirst(4)) })
        let value = try #require(made.out.split(separator: "\n").first { $0.hasPrefix("key: ") }.map { String($0.dropFirst(5)) })
        #expect(value.count == 40)
        let stored = try String(contentsOfFile: dir.appendingPathComponent("keys.yaml").path, encoding: .utf8)
        #expect(!stored.contains(value), "the value must never be stored")
        #expect(stored.contains("value_sha256: "))
        #expect(try keys(["list", "--config", configFile]).out.contains("\(id)\talice\ttrue\tbasic\tfirst key"))
        // An unknown plan is refused with a suggestion, and nothing is written.
        let bad = try keys(["create", "--config", configFile, "--name", "bob", "--plan", "basik"])
        #expect(bad.code != 0 && bad.err.contains("unknown usage plan \"basik\"; did you mean \"basic\"?"), "\(bad.err)")

        // The gateway admits the new key; disabled (and reloaded), it answers 403.
        let h = try await Harness(config)
        do {
            #expect(try h.get("/demo/items", headers: ["x-api-key": value]).status == 200)
            #expect(try keys(["disable", "--config", configFile, id]).code == 0)
            try h.reload(config)
            #expect(try h.get("/demo/items", headers: ["x-api-key": value]).status == 403)
            #expect(try keys(["enable", "--file", dir.appendingPathComponent("keys.yaml").path, id]).code == 0)
            try h.reload(config)
            #expect(try h.get("/demo/items", headers: ["x-api-key": value]).status == 200)
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }

    @Test func importAPIGatewayCSV() throws {
        let configFile = dir.appendingPathComponent("portcullis.yaml").path
        try config.write(toFile: configFile, atomically: true, encoding: .utf8)
        let csv = dir.appendingPathComponent("keys.csv").path
        // API Gateway's own example shape: columns in any order and case, quoted plan lists, an unknown column.
        try """
            Enabled,Name,key,UsageplanIds,Color
            true,MyFirstApiKey,apikey1234abcdefghij0123456789,"basic,gold",blue
            tRuE,"Second, with comma",apikey5678abcdefghij0123456789xyz,'basic',red
            false,Third,apikey9999abcdefghij0123456789xyz0,,green

            """.write(toFile: csv, atomically: true, encoding: .utf8)
        let r = try keys(["import", "--config", configFile, csv])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("imported 3 keys") && r.out.contains("3 added, 0 replaced"), "\(r.out)")
        let list = try keys(["list", "--config", configFile]).out
        #expect(list.contains("\tMyFirstApiKey\ttrue\tbasic,gold\t"), "\(list)")
        #expect(list.contains("\tSecond, with comma\ttrue\tbasic\t"), "\(list)")
        #expect(list.contains("\tThird\tfalse\t\t"), "\(list)")
        // Importing the same key again replaces it.
        try "Name,Key,Enabled\nRenamed,apikey1234abcdefghij0123456789,false\n".write(toFile: csv, atomically: true, encoding: .utf8)
        #expect(try keys(["import", "--config", configFile, csv]).out.contains("0 added, 1 replaced"))
        #expect(try keys(["list", "--config", configFile]).out.contains("\tRenamed\tfalse\t"))

        // Bad files: each a clear line, nothing written.
        let before = try String(contentsOfFile: dir.appendingPathComponent("keys.yaml").path, encoding: .utf8)
        for (text, message): (Data, String) in [
            (Data("Name,Value\na,b\n".utf8), "no Key column"),
            (Data([0x4B, 0x65, 0x79, 0x0A, 0xFF, 0xFE, 0x41, 0x0A]), "not UTF-8"),
            (Data("Key\nshort\n".utf8), "line 2: a key has 30 to 128 characters"),
            (Data("Key,UsagePlanIds\napikey1234abcdefghij0123456789zz,silver\n".utf8), "line 2: unknown usage plan \"silver\""),
            (Data("Key,Enabled\napikey1234abcdefghij0123456789zz,maybe\n".utf8), "Enabled is true or false"),
            (Data("Key,Name\napikey1234abcdefghij0123456789zz,\"unterminated\n".utf8), "a quoted field is not closed"),
        ] {
            try text.write(to: URL(fileURLWithPath: csv))
            let bad = try keys(["import", "--config", configFile, csv])
            #expect(bad.code != 0 && bad.err.contains(message), "\(message): \(bad.err)")
        }
        #expect(try String(contentsOfFile: dir.appendingPathComponent("keys.yaml").path, encoding: .utf8) == before)
    }

    /// The workshop's API-key example as shipped: no key, the demo key, the per-method burst.
    @Test func workshopAPIKeyExample() async throws {
        let root = ResourcePolicyProxyTests.configDir
        let yaml = try String(contentsOf: root.appendingPathComponent("part3-api-keys.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "127.0.0.1:8080", with: "127.0.0.1:0")
            .replacingOccurrences(of: "http://127.0.0.1:9001", with: "http://${ECHO}")
            .replacingOccurrences(of: "access_log: stdout", with: "access_log: off")
            .replacingOccurrences(of: "file: keys/", with: "file: \(root.path)/keys/")
        let h = try await Harness(yaml)
        do {
            let key = ["x-api-key": "workshop-demo-key-0123456789abcdefghij"]
            let none = try h.get("/demo/items")
            #expect(none.status == 403 && none.bodyText == #"{"message":"Forbidden"}"#)
            #expect(try h.get("/demo/items", headers: key).status == 200)
            #expect(try h.get("/demo/health").status == 200)
            var codes: [Int] = []
            for _ in 0..<12 { codes.append(try h.get("/demo/items/1", headers: key).status) }
            #expect(codes.prefix(10).allSatisfy { $0 == 200 } && codes.suffix(2).allSatisfy { $0 == 429 }, "\(codes)")
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }
}
