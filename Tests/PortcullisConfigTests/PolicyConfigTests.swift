import Foundation
import PortcullisPolicy
import Testing

@testable import PortcullisConfig

/// `resource_policy:` (a file or inline) and `policies_dir:`: loaded once, short resources
/// expanded, and every mistake named with its file, line and JSON path.
@Suite struct PolicyConfigTests {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-policy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws {
        let url = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    func load(policy: String, authorizer: String = "") throws -> PortcullisConfig {
        try write(
            "portcullis.yaml",
            """
            listeners: [{ name: public, listen: "127.0.0.1:0" }]
            \(authorizer)
            apis:
              - name: demo
                id: abc123
                stage: demo
                region: eu-west-1
                account: "123456789012"
                resource_policy: \(policy)
                routes: [{ path: /x, upstream: backend }]
            upstreams:
              backend: { endpoints: ["http://127.0.0.1:9001"] }
            """)
        return try ConfigLoader.load(path: dir.appendingPathComponent("portcullis.yaml").path, environment: [:])
    }

    func problems(policy: String, authorizer: String = "") -> [String] {
        do {
            _ = try load(policy: policy, authorizer: authorizer)
            return []
        } catch {
            return (error as? ConfigError)?.issues.map(\.description) ?? ["\(error)"]
        }
    }

    static func allowed(_ doc: PolicyDocument?, _ resource: String, keys: [String: [String]] = [:]) -> Bool {
        guard let doc else { return false }
        return PolicyEvaluator.evaluate([doc], PolicyRequest(principal: nil, action: "execute-api:Invoke", resource: resource, keys: keys))
            == .allowed(sid: doc.statements.first?.sid)
    }

    @Test func fileAndShortResourceForm() throws {
        try write(
            "p.json",
            #"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/demo/GET/*"}]}"#)
        let c = try load(policy: "p.json")
        let doc = c.apis[0].resourcePolicy
        #expect(Self.allowed(doc, "arn:aws:execute-api:eu-west-1:123456789012:abc123/demo/GET/x"))
        #expect(!Self.allowed(doc, "arn:aws:execute-api:eu-west-1:123456789012:abc123/demo/POST/x"))
        #expect(!Self.allowed(doc, "arn:aws:execute-api:eu-west-1:123456789012:other/demo/GET/x"))
    }

    @Test func inlineYAMLPolicy() throws {
        let c = try load(
            policy: """

                  Version: "2012-10-17"
                  Statement:
                    - { Effect: Allow, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/*", Condition: { IpAddress: { "aws:SourceIp": 10.0.0.0/8 } } }
            """)
        let doc = c.apis[0].resourcePolicy
        #expect(Self.allowed(doc, "arn:aws:execute-api:eu-west-1:123456789012:abc123/demo/GET/x", keys: ["aws:SourceIp": ["10.1.2.3"]]))
        #expect(!Self.allowed(doc, "arn:aws:execute-api:eu-west-1:123456789012:abc123/demo/GET/x", keys: ["aws:SourceIp": ["11.1.2.3"]]))
    }

    /// The workshop's copy: `.../api-id/` for `.../api-id/*` and `"Principal": ""` for `"*"`, plus an
    /// unknown operator: each named at its own line in the policy file, with the fix.
    @Test func mistakesNameFileLineAndPath() throws {
        try write(
            "bad.json",
            """
            {
              "Version": "2012-10-17",
              "Statement": [
                {
                  "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
                  "Resource": "arn:aws:execute-api:eu-west-1:123456789012:abc123/"
                },
                { "Effect": "Allow", "Principal": "", "Action": "execute-api:Invoke", "Resource": "*" },
                {
                  "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "*",
                  "Condition": { "IpAdress": { "aws:SourceIp": "10.0.0.0/8" } }
                },
                { "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": ["*", "arn:aws:execute-api:eu-west-1:123456789012:abc123/demo/GET"] }
              ]
            }
            """)
        let p = problems(policy: "bad.json")
        let text = p.joined(separator: "\n")
        #expect(p.count == 4, "\(text)")
        #expect(text.contains("bad.json:6:"), "\(text)")
        #expect(text.contains(#"Statement[0].Resource: "arn:aws:execute-api:eu-west-1:123456789012:abc123/" matches no request"#), "\(text)")
        #expect(text.contains(#"write "arn:aws:execute-api:eu-west-1:123456789012:abc123/*""#), "\(text)")
        #expect(text.contains(#"bad.json:8:"#) && text.contains(#"Statement[1].Principal: Principal is "*""#), "\(text)")
        #expect(text.contains(#"an empty string matches no one; write "*" for anyone"#), "\(text)")
        #expect(text.contains(#"bad.json:11:"#) && text.contains(#"unknown condition operator "IpAdress""#), "\(text)")
        #expect(text.contains(#"Statement[3].Resource[1]: "arn:aws:execute-api:eu-west-1:123456789012:abc123/demo/GET" matches no request"#), "\(text)")
    }

    @Test func unreadableOrNonJSONPolicyFiles() {
        #expect(problems(policy: "missing.json").contains { $0.contains("cannot read") && $0.contains("missing.json") })
        try? write("broken.json", "{\"Statement\": [")
        #expect(problems(policy: "broken.json").contains { $0.contains("is not valid JSON") })
    }

    @Test func identityPoliciesByUserRoleAndGroup() throws {
        try write("iam/users/alice.json", #"{"Statement":{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:abc123/*"}}"#)
        try write("iam/roles/reader/one.json", #"{"Statement":{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*/GET/*"}}"#)
        try write("iam/roles/reader/two.yaml", "Statement: { Effect: Deny, Action: \"execute-api:Invoke\", Resource: \"*/DELETE/*\" }")
        try write("iam/groups/ops.json", #"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#)
        try write("allow.json", #"{"Statement":{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"*"}}"#)
        let authorizer = """
            authorizers:
              iam:
                type: sigv4
                policies_dir: iam
                credentials:
                  - { access_key_id: A1, secret: s, principal: "arn:aws:iam::123456789012:user/team/alice", groups: [ops] }
                  - { access_key_id: A2, secret: s, principal: "arn:aws:sts::123456789012:assumed-role/reader/session-1" }
            """
        let c = try load(policy: "allow.json", authorizer: authorizer)
        guard case .sigv4(let s)? = c.authorizers["iam"]?.kind, let set = s.policies else {
            Issue.record("no identity policies")
            return
        }
        #expect(set.policies(principal: "arn:aws:iam::123456789012:user/team/alice", groups: ["ops"]).count == 2)
        #expect(set.policies(principal: "arn:aws:sts::123456789012:assumed-role/reader/session-1", groups: []).count == 2)
        #expect(set.policies(principal: "arn:aws:iam::123456789012:role/reader", groups: []).count == 2)
        #expect(set.policies(principal: "arn:aws:iam::123456789012:user/bob", groups: []).isEmpty)

        // A group no policy file names, a stray folder, a policy with a mistake.
        try write("iam/admins/x.json", "{}")
        try write("iam/users/bob.json", #"{"Statement":{"Effect":"Allow","Action":"execute-api:Invoke"}}"#)
        let bad = problems(policy: "allow.json", authorizer: authorizer.replacingOccurrences(of: "groups: [ops]", with: "groups: [opps]"))
        let text = bad.joined(separator: "\n")
        #expect(text.contains("access key A1 is in group opps, which has no policies in policies_dir/groups/; did you mean \"ops\"?"), "\(text)")
        #expect(text.contains("iam/admins: a policies_dir holds only users/, roles/ and groups/"), "\(text)")
        #expect(text.contains("bob.json:1:") && text.contains("Statement[0].Resource: a statement needs Resource or NotResource"), "\(text)")
    }
}
