import Foundation
import Testing

@testable import PortcullisConfig

/// `type: sigv4`: credentials inline or in a file of their own, whose problems name that file,
/// its line and the key path; secrets from the environment.
@Suite struct SigV4ConfigTests {
    func config(_ authorizer: String) -> String {
        """
        listeners: [{ name: public, listen: "127.0.0.1:0" }]
        authorizers:
          iam:
        \(authorizer)
        apis:
          - name: demo
            stage: demo
            routes: [{ path: /x, upstream: backend, auth: [iam] }]
        upstreams:
          backend: { endpoints: ["http://127.0.0.1:9001"] }
        """
    }

    @Test func credentialsFileIsReadWithItsOwnPositions() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-sigv4-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let credentials = dir.appendingPathComponent("credentials.yaml")
        try """
            credentials:
              - access_key_id: AKIAGOOD
                secret: ${ALICE_SECRET}
                principal: arn:aws:iam::123456789012:user/alice
              - access_key_id: AKIATEMP
                secret: s3cret
                principal: arn:aws:sts::123456789012:assumed-role/reader/s1
                session_token: tok
                expires: "2100-01-01T00:00:00Z"
                status: Inactive
            """.write(to: credentials, atomically: true, encoding: .utf8)
        let main = dir.appendingPathComponent("portcullis.yaml")
        try config("    { type: sigv4, credentials_file: credentials.yaml, max_skew: 2m }").write(to: main, atomically: true, encoding: .utf8)
        let c = try ConfigLoader.load(path: main.path, environment: ["ALICE_SECRET": "from-env"])
        guard case .sigv4(let s) = c.authorizers["iam"]?.kind else {
            Issue.record("sigv4 authorizer not parsed")
            return
        }
        #expect(s.maxSkew == .seconds(120))
        #expect(s.keys.map(\.accessKeyID) == ["AKIAGOOD", "AKIATEMP"])
        #expect(s.keys[0].secret == "from-env" && s.keys[0].active)
        #expect(s.keys[1].sessionToken == "tok" && s.keys[1].expires == 4_102_444_800 && !s.keys[1].active)

        // Mistakes in the credentials file name that file, its line and the key path.
        try """
            credentials:
              - access_key_id: AKIABAD
                secret: x
                principal: alice
                statuss: Active
            """.write(to: credentials, atomically: true, encoding: .utf8)
        do {
            _ = try ConfigLoader.load(path: main.path, environment: [:])
            Issue.record("a bad credentials file must be refused")
        } catch {
            let text = error.issues.map(\.description).joined(separator: "\n")
            #expect(text.contains("credentials.yaml:4:"), "\(text)")
            #expect(text.contains("credentials[0].principal: a principal is an IAM ARN"), "\(text)")
            #expect(text.contains("credentials[0].statuss: unknown key \"statuss\"; did you mean \"status\"?"), "\(text)")
        }
    }

    @Test func inlineCredentialsAndTheirMistakes() throws {
        let ok = try ConfigLoader.parse(
            config("    { type: sigv4, credentials: [{ access_key_id: A1, secret: s, principal: \"arn:aws:iam::1:user/a\" }] }"), file: "t.yaml")
        guard case .sigv4(let s) = ok.authorizers["iam"]?.kind else {
            Issue.record("sigv4 authorizer not parsed")
            return
        }
        #expect(s.keys.count == 1 && s.maxSkew == .seconds(300))

        func messages(_ authorizer: String) -> [String] {
            do {
                _ = try ConfigLoader.parse(config(authorizer), file: "t.yaml")
                return []
            } catch {
                return error.issues.map { "\($0.keyPath): \($0.message)" }
            }
        }
        #expect(messages("    { type: sigv4 }").contains("authorizers.iam.credentials_file: a sigv4 authorizer needs credentials_file (or an inline credentials list)"))
        #expect(messages("    { type: sigv4, credentials: [{ access_key_id: A1, principal: \"arn:aws:iam::1:user/a\" }] }").contains(
            "authorizers.iam.credentials[0].secret: every credential needs a secret (use ${ENV_VAR} to keep it out of the file)"))
        #expect(messages("    { type: sigv4, credentials_file: nowhere.yaml }").first?.contains("cannot read") == true)
        #expect(messages("    { type: sigv4, credentials: [], max_skew: 2h }").contains("authorizers.iam.max_skew: max_skew must be between 1s and 1h (API Gateway: 5m)"))
        let twice = "    { type: sigv4, credentials: [{ access_key_id: A1, secret: s, principal: \"arn:aws:iam::1:user/a\" }, { access_key_id: A1, secret: t, principal: \"arn:aws:iam::1:user/b\" }] }"
        #expect(messages(twice).contains("authorizers.iam: access key A1 is listed twice"))
    }
}

/// `endpoint: private` and private listeners: what `check` says about them.
@Suite struct PrivateEndpointConfigTests {
    func messages(_ yaml: String) -> [String] {
        do {
            _ = try ConfigLoader.parse(yaml, file: "t.yaml")
            return []
        } catch {
            return error.issues.map { "\($0.keyPath): \($0.message)" }
        }
    }

    func config(listeners: String, endpoint: String) -> String {
        """
        listeners:
        \(listeners)
        apis:
          - { name: demo, stage: demo, endpoint: \(endpoint), routes: [{ path: /x, upstream: backend }] }
        upstreams:
          backend: { endpoints: ["http://127.0.0.1:9001"] }
        """
    }

    @Test func privateEndpointsAndListeners() throws {
        let c = try ConfigLoader.parse(
            config(listeners: "  - { name: vpc, listen: \"127.0.0.1:0\", private: true, vpc: vpc-1, vpce: vpce-1 }", endpoint: "private"), file: "t.yaml")
        #expect(c.apis[0].endpoint == .private)
        #expect(c.listeners[0].isPrivate && c.listeners[0].vpc == "vpc-1" && c.listeners[0].vpce == "vpce-1")
        #expect(messages(config(listeners: "  - { name: public, listen: \"127.0.0.1:0\" }", endpoint: "private")).contains(
            "apis[0].endpoint: a private API answers only on listeners with private: true, and none of its listeners is private"))
        #expect(messages(config(listeners: "  - { name: public, listen: \"127.0.0.1:0\", vpce: vpce-1 }", endpoint: "regional")).contains(
            "listeners[0].private: vpce and vpc describe the VPC endpoint of a private listener; add private: true"))
        #expect(messages(config(listeners: "  - { name: public, listen: \"127.0.0.1:0\" }", endpoint: "privat")).contains(
            "apis[0].endpoint: endpoint is regional or private, not \"privat\"; did you mean \"private\"?"))
    }
}
