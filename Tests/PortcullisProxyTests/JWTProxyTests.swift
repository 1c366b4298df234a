import Foundation
import Testing

@testable import PortcullisProxy

/// The JWT authorizer through the real gateway: tokens minted beforehand with PyJWT (HS256,
/// exp in 2100) against the workshop's Part 4 demo secret, so this suite needs no Python.
@Suite struct JWTProxyTests {
    static let secret = "workshop-part4-demo-secret-0123456789abcdef-change-me-please"
    static let alice = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiIsImlzcyI6InBvcnRjdWxsaXMtbGFiIiwiYXVkIjoid29ya3Nob3AiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6NDEwMjQ0NDgwMH0.-9n5BZa578pJ6xFIc4AAqtZyBz2zjCLLjHv7UPAUrJo"
    static let bob = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJyb2xlIjoicmVhZGVyIiwiaXNzIjoicG9ydGN1bGxpcy1sYWIiLCJhdWQiOiJ3b3Jrc2hvcCIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwfQ.giIFsWO3y7lb1B2jg6-bciOhg8cTXnVL1t-5eOArUx0"
    static let expired = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJldmUiLCJyb2xlIjoiYWRtaW4iLCJpc3MiOiJwb3J0Y3VsbGlzLWxhYiIsImF1ZCI6IndvcmtzaG9wIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDA2MDB9.cMI8LUxZXa6Wa3XlWIEQPXDvuzlrE9JPnVFjdxi1SSE"

    static let config = """
        workers: 2
        access_log: off
        listeners:
          - { name: public, listen: "127.0.0.1:0" }
        authorizers:
          lab:
            type: jwt
            algorithms: [HS256]
            secret: "\(secret)"
            issuer: portcullis-lab
            audiences: [workshop]
            forward_claims: { X-User-Id: sub, X-User-Role: role }
          lab-query: { type: jwt, secret: "\(secret)", identity_source: query.access_token }
        apis:
          - name: lab
            stage: lab
            routes:
              - { path: /custom, upstream: backend, auth: [lab] }
              - path: /templated
                upstream: backend
                auth: [lab]
                set_headers:
                  X-Caller: "user=$context.authorizer.claims.sub role=$context.authorizer.claims.role"
                  X-Principal: $context.authorizer.principalId
                  X-Missing: $context.authorizer.claims.nope
                  X-Static: plain
              - { path: /admin, upstream: backend, auth: [lab], claims: [{ claim: role, equals: admin }] }
              - { path: /scoped, upstream: backend, auth: [lab], scopes: [items/read] }
              - { path: /q, upstream: backend, auth: [lab-query] }
        upstreams:
          backend: { endpoints: ["http://${ECHO}"] }
        """

    @Test func gatewayChecksTokens() async throws {
        let h = try await Harness(Self.config, workers: 2)
        do {
            let ok = try h.get("/lab/custom", headers: ["Authorization": "Bearer \(Self.alice)", "X-User-Id": "forged"])
            #expect(ok.status == 200)
            let hdrs = ok.json["headers"] as? [String: String] ?? [:]
            #expect(hdrs["x-user-id"] == "alice")
            #expect(hdrs["x-user-role"] == "admin")
            // Cached now: the same again.
            #expect(try h.get("/lab/custom", headers: ["Authorization": "Bearer \(Self.alice)"]).status == 200)

            // API Gateway-style header templates from the verified claims; a missing claim leaves the header out.
            let templated = try h.get("/lab/templated", headers: ["Authorization": "Bearer \(Self.alice)", "X-Caller": "forged"])
            let th = templated.json["headers"] as? [String: String] ?? [:]
            #expect(th["x-caller"] == "user=alice role=admin")
            #expect(th["x-principal"] == "alice")
            #expect(th["x-missing"] == nil)
            #expect(th["x-static"] == "plain")

            let missing = try h.get("/lab/custom")
            #expect(missing.status == 401)
            #expect(missing.bodyText == #"{"message":"Unauthorized"}"#)
            #expect(missing.header("WWW-Authenticate") == "Bearer")

            let expired = try h.get("/lab/custom", headers: ["Authorization": "Bearer \(Self.expired)"])
            #expect(expired.status == 401)
            #expect(expired.bodyText == #"{"message":"Unauthorized"}"#)
            #expect(expired.header("WWW-Authenticate") == #"Bearer error="invalid_token", error_description="Token expired""#)

            var forged = Array(Self.alice)
            forged[forged.count - 3] = forged[forged.count - 3] == "A" ? "B" : "A"
            #expect(try h.get("/lab/custom", headers: ["Authorization": "Bearer \(String(forged))"]).status == 401)

            #expect(try h.get("/lab/admin", headers: ["Authorization": "Bearer \(Self.alice)"]).status == 200)
            let reader = try h.get("/lab/admin", headers: ["Authorization": "Bearer \(Self.bob)"])
            #expect(reader.status == 403)
            let scoped = try h.get("/lab/scoped", headers: ["Authorization": "Bearer \(Self.alice)"])
            #expect(scoped.status == 403)
            #expect(scoped.bodyText == #"{"message":"Forbidden"}"#)
            #expect(scoped.header("WWW-Authenticate")?.hasPrefix("Bearer error=\"insufficient_scope\"") == true)

            #expect(try h.get("/lab/q?access_token=\(Self.bob)").status == 200)
            #expect(try h.get("/lab/q?other=\(Self.bob)").status == 401)
        } catch {
            await h.stop()
            throw error
        }
        await h.stop()
    }
}

/// `portcullis token mint` and `portcullis token inspect` as a user runs them.
@Suite struct JWTTokenCommandTests {
    static var binary: String { CommandLineTests.binary }

    @Test func mintThenInspect() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-token-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("ec.pem").path, pub = dir.appendingPathComponent("ec.pub.pem").path
        try #require(try runTool(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", key]).code == 0)
        try #require(try runTool(["openssl", "pkey", "-in", key, "-pubout", "-out", pub]).code == 0)
        let config = dir.appendingPathComponent("c.yaml").path
        try """
            listeners: [{ name: p, listen: "127.0.0.1:0" }]
            authorizers:
              hs: { type: jwt, secret: "\(JWTProxyTests.secret)", issuer: lab, audiences: [w] }
              ec: { type: jwt, public_key_file: ec.pub.pem, algorithms: [ES384] }
            apis: [{ name: t, routes: [{ path: /x, upstream: b, auth: [hs] }] }]
            upstreams: { b: { endpoints: ["http://127.0.0.1:9001"] } }
            """.write(toFile: config, atomically: true, encoding: .utf8)

        let hs = try runTool([Self.binary, "token", "mint", "--secret", JWTProxyTests.secret, "--iss", "lab", "--aud", "w", "--sub", "ana", "--claim", "role=admin"])
        #expect(hs.code == 0, "\(hs.err)")
        let token = hs.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let ok = try runTool([Self.binary, "token", "inspect", "--config", config, "--authorizer", "hs", token])
        #expect(ok.code == 0)
        #expect(ok.out.contains("verdict: valid for hs (principal ana)"))
        #expect(ok.out.contains("\"role\" : \"admin\""))
        let wrongAud = try runTool([Self.binary, "token", "mint", "--secret", JWTProxyTests.secret, "--iss", "lab", "--aud", "x"])
        let refused = try runTool([Self.binary, "token", "inspect", "-c", config, "--authorizer", "hs", wrongAud.out.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(refused.code == 1)
        #expect(refused.out.contains("verdict: refused by hs: Invalid audience (401 UNAUTHORIZED)"))

        let ec = try runTool([Self.binary, "token", "mint", "--key", key, "--kid", "k1", "--sub", "bo", "--ttl", "5m"])
        #expect(ec.code == 0, "\(ec.err)")
        let ecToken = ec.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let ecOK = try runTool([Self.binary, "token", "inspect", "--config", config, "--authorizer", "ec", ecToken])
        #expect(ecOK.out.contains("\"alg\" : \"ES384\""))
        #expect(ecOK.out.contains("verdict: valid for ec (principal bo)"), "\(ecOK.out)")
        // Decoding alone needs no config.
        let decoded = try runTool([Self.binary, "token", "inspect", ecToken])
        #expect(decoded.code == 0 && decoded.out.contains("signature: not checked"))
    }
}
