import Foundation
import Testing

@testable import PortcullisProxy

/// The workshop's four resource-policy examples in config/, through the real gateway: each is
/// loaded as shipped (ports chosen by the kernel, the test's echo upstream) and must allow and
/// refuse the right requests, with API Gateway's ACCESS_DENIED bodies. Signed requests come from
/// curl's own SigV4 signer; Cognito-style RS256 tokens from PyJWT.
@Suite struct ResourcePolicyProxyTests {
    static let configDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("config")

    /// An example as a test runs it: its own files by absolute path, ports 0, the echo upstream.
    static func example(_ name: String, edit: (String) -> String = { $0 }) throws -> String {
        var yaml = try String(contentsOf: configDir.appendingPathComponent(name), encoding: .utf8)
        yaml = yaml.replacing(#/127\.0\.0\.1:80\d\d/#, with: "127.0.0.1:0")
            .replacingOccurrences(of: "http://127.0.0.1:9001", with: "http://${ECHO}")
            .replacingOccurrences(of: "access_log: stdout", with: "access_log: off")
        for d in ["policies/", "iam/", "secrets/"] { yaml = yaml.replacingOccurrences(of: " \(d)", with: " \(configDir.path)/\(d)") }
        return edit(yaml)
    }

    static func denial(_ who: String, _ arn: String, explicit: Bool) -> String {
        #"{"Message":"User: \#(who) is not authorized to perform: execute-api:Invoke on resource: \#(arn)\#(explicit ? " with an explicit deny" : "")"}"#
    }

    func request(_ port: Int, _ method: String, _ path: String, _ headers: [(String, String)] = []) throws -> RawResponse {
        let c = try RawConnection(port: port)
        var text = "\(method) \(path) HTTP/1.1\r\nHost: x\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        c.send(text + "\r\n")
        return try c.readResponse()
    }

    @Test func sourceIPAllowOnAnOpenAPI() async throws {
        let h = try await Harness(try Self.example("part5-policy-source-ip.yaml"))
        do {
            #expect(try request(h.port, "GET", "/demo/pets").status == 200)
            #expect(try request(h.port, "PUT", "/demo/pets/7", [("X-Forwarded-For", "192.0.2.44"), ("Content-Length", "0")]).status == 200)
            let outside = try request(h.port, "GET", "/demo/pets", [("X-Forwarded-For", "203.0.113.7")])
            #expect(outside.status == 403)
            #expect(outside.bodyText == Self.denial("anonymous", "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/demo/GET/pets", explicit: false))
            #expect(outside.header("x-amzn-ErrorType") == "AccessDeniedException")
            #expect(try request(h.port, "GET", "/demo/pets", [("X-Forwarded-For", "2001:db8::5")]).status == 200)
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }

    /// curl signs: bob has no identity policy (the resource policy lets him in from the VPC only),
    /// alice's own policy allows her anywhere but her group denies DELETE, carol is cross-account.
    @Test func sourceVPCAllowWithIAM() async throws {
        let h = try await Harness(try Self.example("part5-policy-source-vpc-iam.yaml"))
        do {
            let vpc = try #require(h.server.boundAddresses["vpc"]?.port)
            let users = [
                "alice": "AKIAPORTCULLISALICE1:alice-demo-secret-0123456789abcdefghij",
                "bob": "AKIAPORTCULLISBOB001:bob-demo-secret-0123456789abcdefghijkl",
                "carol": "AKIAPORTCULLISCAROL1:carol-demo-secret-0123456789abcdefghij",
            ]
            func curl(_ user: String, _ port: Int, _ path: String, method: String = "GET") throws -> (Int, String) {
                let r = try runTool([
                    "curl", "-s", "-X", method, "-w", "\n%{http_code}", "--aws-sigv4", "aws:amz:eu-west-1:execute-api", "--user", users[user]!,
                    "http://127.0.0.1:\(port)\(path)",
                ])
                let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false)
                return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
            }
            let arn = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/demo/GET/pets"
            #expect(try curl("bob", vpc, "/demo/pets").0 == 200)
            let bobOutside = try curl("bob", h.port, "/demo/pets")
            #expect(bobOutside.0 == 403)
            #expect(bobOutside.1 == Self.denial("arn:aws:iam::123456789012:user/bob", arn, explicit: false))
            #expect(try curl("alice", h.port, "/demo/pets").0 == 200)
            let aliceDelete = try curl("alice", vpc, "/demo/pets/1", method: "DELETE")
            #expect(aliceDelete.0 == 403)
            #expect(aliceDelete.1.hasSuffix("DELETE/pets/1 with an explicit deny\"}"), "\(aliceDelete.1)")
            #expect(try curl("bob", vpc, "/demo/pets/1", method: "DELETE").0 == 200)
            // Cross-account: her identity policy and the resource policy must both allow.
            #expect(try curl("carol", vpc, "/demo/pets").0 == 200)
            #expect(try curl("carol", h.port, "/demo/pets").0 == 403)
            // Unsigned: the authorizer answers before any policy.
            let unsigned = try request(vpc, "GET", "/demo/pets")
            #expect(unsigned.status == 403 && unsigned.bodyText == #"{"message":"Missing Authentication Token"}"#)
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }

    /// RS256 ID tokens of the example's Cognito pool, minted by PyJWT; the key set is a public
    /// key file instead of the pool's JWKS endpoint (no network in tests).
    @Test func sourceIPAllowWithCognito() async throws {
        let script = """
            import json, time, jwt
            from cryptography.hazmat.primitives.asymmetric import rsa
            from cryptography.hazmat.primitives import serialization
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
            def mint(groups):
                claims = {"sub": "u-1", "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
                          "aud": "1example23456789clientid", "token_use": "id", "exp": int(time.time()) + 3600}
                if groups is not None: claims["cognito:groups"] = groups
                return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
            print(json.dumps({"pem": pem, "user": mint(["users"]), "admin": mint(["users", "admin"]), "none": mint(None)}))
            """
        let r = try runTool(["python3", "-c", script])
        try #require(r.code == 0, "needs python3 with PyJWT and cryptography (pip install -r Tests/requirements.txt): \(r.err)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: String])
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("cognito-\(UUID().uuidString).pem")
        try doc["pem"]!.write(to: keyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: keyFile) }
        let yaml = try Self.example("part5-policy-source-ip-cognito.yaml") {
            // The test's own key instead of the demo pool's key set.
            $0.replacing(#/    jwks_file: .*/#, with: "    public_key_file: \(keyFile.path)")
        }
        let h = try await Harness(yaml)
        do {
            func bearer(_ who: String) -> (String, String) { ("Authorization", "Bearer \(doc[who]!)") }
            #expect(try request(h.port, "GET", "/demo/profile", [bearer("user")]).status == 200)
            let elsewhere = try request(h.port, "GET", "/demo/profile", [bearer("user"), ("X-Forwarded-For", "203.0.113.7")])
            #expect(elsewhere.status == 403)
            #expect(elsewhere.bodyText == Self.denial("anonymous", "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/demo/GET/profile", explicit: false))
            // Authentication comes first: no token is 401 even from a listed address.
            #expect(try request(h.port, "GET", "/demo/profile").status == 401)
            // Multi-valued claims: only members of admin may DELETE.
            #expect(try request(h.port, "DELETE", "/demo/items/1", [bearer("admin")]).status == 200)
            let user = try request(h.port, "DELETE", "/demo/items/1", [bearer("user")])
            #expect(user.status == 403 && user.bodyText.hasSuffix("with an explicit deny\"}"))
            #expect(try request(h.port, "DELETE", "/demo/items/1", [bearer("none")]).status == 403)
            #expect(try request(h.port, "GET", "/demo/items/1", [bearer("user")]).status == 200)
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }

    @Test func denyUnlessOurVPCEndpointWithTheCustomAuthorizer() async throws {
        let h = try await Harness(try Self.example("part5-policy-vpce-custom.yaml"))
        do {
            let ours = try #require(h.server.boundAddresses["our-vpce"]?.port)
            let other = try #require(h.server.boundAddresses["other-vpce"]?.port)
            let token = ("Authorization", "Bearer \(JWTProxyTests.alice)")
            #expect(try request(ours, "GET", "/lab/reports", [token]).status == 200)
            let viaOther = try request(other, "GET", "/lab/reports", [token])
            #expect(viaOther.status == 403)
            #expect(viaOther.bodyText == Self.denial("anonymous", "arn:aws:execute-api:eu-west-1:123456789012:l4b0custom/lab/GET/reports", explicit: true))
            // A private API off the VPC: the private-endpoint phase answers first.
            let outside = try request(h.port, "GET", "/lab/reports", [token])
            #expect(outside.status == 403 && outside.bodyText == #"{"message":"Forbidden"}"#)
            // No token through our endpoint: the authorizer answers 401 before the policy.
            #expect(try request(ours, "GET", "/lab/reports").status == 401)
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }

    /// A reload with a broken policy keeps the old one; a good one takes effect on the next request.
    @Test func reloadSwapsThePolicyOrKeepsTheOld() async throws {
        let h = try await Harness(try Self.example("part5-policy-source-ip.yaml"))
        do {
            #expect(try request(h.port, "GET", "/demo/pets").status == 200)
            let denyAll = try Self.example("part5-policy-source-ip.yaml") {
                $0.replacingOccurrences(
                    of: "resource_policy: \(Self.configDir.path)/policies/allow-source-ip.json",
                    with: #"resource_policy: { Statement: { Effect: Deny, Principal: "*", Action: "execute-api:*", Resource: "execute-api:/*" } }"#)
            }
            #expect(denyAll.contains("Effect: Deny"))
            try h.reload(denyAll)
            #expect(try request(h.port, "GET", "/demo/pets").status == 403)
            let broken = denyAll.replacingOccurrences(of: "Effect: Deny", with: "Effect: Maybe")
            #expect(throws: (any Error).self) { try h.reload(broken) }
            #expect(try request(h.port, "GET", "/demo/pets").status == 403)
        } catch {
            Issue.record("\(error)")
        }
        await h.stop()
    }
}
