import Foundation
import Testing

@testable import PortcullisProxy

/// Requests shaped to make the gateway and the upstream disagree about where a message ends or
/// what path it names; each must be refused or forwarded unambiguously.
@Suite struct AdversarialRequestTests {
    func withHarness(_ body: (Harness) async throws -> Void) async throws {
        let h = try await Harness(ProxyIntegrationTests.config)
        do { try await body(h) } catch {
            await h.stop()
            throw error
        }
        await h.stop()
    }

    @Test func connectionCannotNominateFramingHeaders() async throws {
        try await withHarness { h in
            let c = try h.connect()
            // Were Content-Length dropped as "hop-by-hop", the body would become a second request upstream.
            c.send("POST /demo/items/1 HTTP/1.1\r\nHost: x\r\nConnection: Content-Length, Host\r\nContent-Length: 41\r\n\r\n"
                + "GET /smuggled HTTP/1.1\r\nHost: backend\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 200)
            let hdrs = r.json["headers"] as? [String: String] ?? [:]
            #expect(hdrs["content-length"] == "41")
            #expect(r.json["body_bytes"] as? Int == 41)
            c.send("GET /demo/items/2 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().json["path"] as? String == "/items/2")
        }
    }

    @Test(arguments: [
        "/demo/files/../denied", "/demo/files/%2e%2e/denied", "/demo/files/.%2E/denied", "/demo/files/..%2fdenied",
        "/demo/files/a%5c..", "/demo/files/./x", "/demo/files/a\\b", "/demo/files/%zz",
    ])
    func pathsUpstreamsMightReadDifferentlyAre400(path: String) async throws {
        try await withHarness { h in
            let r = try h.get(path)
            #expect(r.status == 400, "\(path)")
            #expect(r.bodyText == #"{"message":"Bad Request"}"#)
        }
    }

    /// Raw bytes above ASCII pass as UTF-8 (as nginx lets them through); anything else is 400,
    /// since an upstream could decode it in another charset.
    @Test func rawPathBytesMustBeUTF8() async throws {
        try await withHarness { h in
            for (bytes, status) in [([0xC3, 0xA9] as [UInt8], 200), ([0xFF], 400), ([0xC3], 400), ([0xE2, 0x82], 400), ([0xED, 0xA0, 0x80], 400)] {
                let c = try h.connect()
                c.send(Array("GET /demo/files/".utf8) + bytes + Array(" HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                let r = try c.readResponse()
                #expect(r.status == status, "\(bytes)")
            }
        }
    }

    @Test func dotsInsideNamesAreFine() async throws {
        try await withHarness { h in
            let r = try h.get("/demo/files/a.b/c..d/...")
            #expect(r.status == 200)
        }
    }

    @Test func absoluteFormTargetsAreRoutedByTheirPath() async throws {
        try await withHarness { h in
            let c = try h.connect()
            c.send("GET http://localhost/demo/items/9?q=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.json["path"] as? String == "/items/9")
            #expect(r.json["query"] as? String == "q=1")
        }
    }

    @Test func halfClosedClientStillGetsItsAnswer() async throws {
        try await withHarness { h in
            let c = try h.connect()
            c.send("GET /demo/items/5 HTTP/1.1\r\nHost: x\r\n\r\n")
            shutdown(c.fd, Int32(SHUT_WR))
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.json["path"] as? String == "/items/5")
            #expect(c.waitForClose())
        }
    }

    @Test func bareLineFeedsAreRefusedAtOnce() async throws {
        try await withHarness { h in
            let c = try h.connect()
            c.send("GET /demo/public HTTP/1.1\nHost: x\n\n")
            let r = try c.readResponse()
            #expect(r.status == 400)
        }
    }

    @Test(arguments: ["[::1", "", "a b", "x/y"])
    func invalidHostIs400(host: String) async throws {
        try await withHarness { h in
            let c = try h.connect()
            c.send("GET /demo/public HTTP/1.1\r\nHost: \(host)\r\n\r\n")
            #expect(try c.readResponse().status == 400, "\(host)")
        }
    }
}
