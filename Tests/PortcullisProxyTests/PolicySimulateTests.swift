import Foundation
import Testing

/// `portcullis policy simulate` as a user runs it, on the example policies in config/: the
/// decision, the statement that made it, the account rule, and the exit status.
@Suite struct PolicySimulateTests {
    static let config = ResourcePolicyProxyTests.configDir.path
    static let api = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5"

    func simulate(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        try runTool([CommandLineTests.binary, "policy", "simulate"] + args)
    }

    @Test func anonymousCallerAndTheResourcePolicy() throws {
        let base = ["--resource-policy", "\(Self.config)/policies/allow-source-ip.json", "--action", "execute-api:Invoke", "--resource", "\(Self.api)/demo/GET/pets"]
        let inside = try simulate(base + ["--context", "aws:SourceIp=192.0.2.9"])
        #expect(inside.code == 0)
        #expect(inside.out.hasPrefix("Allowed (\(Self.config)/policies/allow-source-ip.json statement 1 (Sid \"AllowFromTheOfficeOnly\"))"), "\(inside.out)")
        let outside = try simulate(base + ["--context", "aws:SourceIp=203.0.113.7"])
        #expect(outside.code == 1)
        #expect(outside.out.hasPrefix("ImplicitlyDenied\n"), "\(outside.out)")
    }

    @Test func identityAndResourcePoliciesCombineByAccount() throws {
        func ask(_ user: String, account: String, _ method: String, vpc: Bool, groups: [String] = []) throws -> (Int32, String) {
            var args = ["--identity", "\(Self.config)/iam/policies/users/\(user).json"] + groups.map { "\(Self.config)/iam/policies/groups/\($0).json" }
            args += ["--resource-policy", "\(Self.config)/policies/allow-source-vpc.json", "--principal", "arn:aws:iam::\(account):user/\(user)"]
            args += ["--action", "execute-api:Invoke", "--resource", "\(Self.api)/demo/\(method)/pets"]
            if vpc { args += ["--context", "aws:SourceVpc=vpc-0def5678"] }
            let r = try simulate(args)
            return (r.code, r.out)
        }
        // alice: her own policy allows; her group's Deny wins over everything.
        #expect(try ask("alice", account: "123456789012", "GET", vpc: false).0 == 0)
        let delete = try ask("alice", account: "123456789012", "DELETE", vpc: true, groups: ["readers"])
        #expect(delete.0 == 1 && delete.1.hasPrefix("ExplicitlyDenied (\(Self.config)/iam/policies/groups/readers.json statement 1 (Sid \"ReadersNeverDelete\"))"), "\(delete.1)")
        // carol, another account: both sides must allow.
        let carolVPC = try ask("carol", account: "210987654321", "GET", vpc: true)
        #expect(carolVPC.0 == 0 && carolVPC.1.contains("cross-account, both sides must allow"), "\(carolVPC.1)")
        #expect(try ask("carol", account: "210987654321", "GET", vpc: false).0 == 1)
        // The same identity policy in the resource's account: either side suffices.
        #expect(try ask("carol", account: "123456789012", "GET", vpc: false).0 == 0)
    }

    @Test func anyActionAndMultiValuedContext() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("simulate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let policy = dir.appendingPathComponent("s3.json").path
        try #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::reports/*","Condition":{"ForAnyValue:StringEquals":{"claims:groups":"finance"}}}]}"#
            .write(toFile: policy, atomically: true, encoding: .utf8)
        let base = ["--identity", policy, "--principal", "arn:aws:iam::123456789012:user/x", "--resource", "arn:aws:s3:::reports/q3.csv"]
        #expect(try simulate(base + ["--action", "s3:GetObject", "--context", "claims:groups=sales", "--context", "claims:groups=finance"]).code == 0)
        #expect(try simulate(base + ["--action", "s3:GetObject", "--context", "claims:groups=sales"]).code == 1)
        #expect(try simulate(base + ["--action", "s3:PutObject", "--context", "claims:groups=finance"]).code == 1)
    }

    @Test func badPolicyFilesAndArguments() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("simulate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.json").path
        try "{\n  \"Statement\": {\n    \"Effect\": \"Alow\", \"Action\": \"*\", \"Resource\": \"*\"\n  }\n}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let r = try simulate(["--identity", bad, "--action", "a:b", "--resource", "*"])
        #expect(r.code == 64)
        #expect(r.err.contains("bad.json:3:") && r.err.contains("Statement[0].Effect: Effect is Allow or Deny"), "\(r.err)")
        // A resource that matches nothing is a warning here (IAM accepts it), and the answer follows.
        let dead = dir.appendingPathComponent("dead.json").path
        try #"{"Statement":{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/"}}"#
            .write(toFile: dead, atomically: true, encoding: .utf8)
        let w = try simulate(["--resource-policy", dead, "--action", "execute-api:Invoke", "--resource", "\(Self.api)/demo/GET/pets"])
        #expect(w.code == 1 && w.err.contains("warning") && w.err.contains("matches no request"), "\(w.err)")
        #expect(try simulate(["--action", "a:b", "--resource", "*"]).code == 64)
    }
}
