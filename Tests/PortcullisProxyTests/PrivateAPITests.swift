import Foundation
import Testing

@testable import PortcullisProxy

/// Private APIs: the workshop's example config through the real gateway. A private API answers
/// only on the private listener (403 Forbidden elsewhere); a regional API answers on both.
@Suite struct PrivateAPITests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("config/private-api.yaml")

    func get(_ port: Int, _ path: String) throws -> RawResponse {
        let c = try RawConnection(port: port)
        c.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
        return try c.readResponse()
    }

    @Test func privateAPIAnswersOnlyOnThePrivateListener() async throws {
        // The example, with ports the kernel chooses and the test's echo upstream.
        let yaml = try String(contentsOf: Self.example, encoding: .utf8)
            .replacingOccurrences(of: "127.0.0.1:8080", with: "127.0.0.1:0").replacingOccurrences(of: "127.0.0.1:8090", with: "127.0.0.1:0")
            .replacingOccurrences(of: "http://127.0.0.1:9001", with: "http://${ECHO}").replacingOccurrences(of: "access_log: stdout", with: "access_log: off")
        let h = try await Harness(yaml)
        do {
            let publicPort = h.port
            let vpcPort = try #require(h.server.boundAddresses["vpc"]?.port)
            let outside = try get(publicPort, "/internal/reports")
            #expect(outside.status == 403)
            #expect(outside.bodyText == #"{"message":"Forbidden"}"#)
            #expect(outside.header("x-amzn-ErrorType") == "ForbiddenException")
            #expect(try get(vpcPort, "/internal/reports").status == 200)
            #expect(try get(publicPort, "/public/status").status == 200)
            #expect(try get(vpcPort, "/public/status").status == 200)
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }
}
