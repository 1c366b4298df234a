import ArgumentParser
import PortcullisConfig
import PortcullisPolicy

/// `portcullis policy`: IAM policies outside the gateway, with the gateway's own engine.
struct Policy: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with IAM policies (resource and identity policies).", subcommands: [PolicySimulate.self])
}

/// `portcullis policy simulate`: what `aws iam simulate-custom-policy` answers, offline.
struct PolicySimulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Evaluate identity and resource policies for one request: Allowed, ExplicitlyDenied or ImplicitlyDenied.",
        discussion: """
            The same grammar and evaluation as the gateway's resource-policy phase. Identity policies
            alone decide as IAM does (an explicit Deny wins, then an Allow; nothing is an implicit
            deny). With --resource-policy both sides combine: in the resource's account either side's
            Allow suffices unless the other denies; across accounts both must allow. The principal's
            account is the fifth field of its ARN; the resource's is --resource-account, else the
            fifth field of the resource ARN. Any action and resource may be asked about.

            Condition keys come from --context; repeat a key for a multi-valued one. The gateway
            fills aws:SourceIp, aws:SourceVpc, aws:SourceVpce, aws:SecureTransport, aws:CurrentTime,
            aws:EpochTime, aws:UserAgent, aws:Referer, aws:PrincipalArn, aws:PrincipalAccount,
            aws:PrincipalType, aws:username, aws:userid, claims:NAME (JWT claims) and context:KEY.

            Exit status: 0 Allowed, 1 denied, 64 for bad arguments or policy files.

            Example:
              portcullis policy simulate --resource-policy config/policies/allow-source-ip.json \\
                --action execute-api:Invoke \\
                --resource arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/demo/GET/pets \\
                --context aws:SourceIp=203.0.113.7
            """)

    @Option(name: .customLong("identity"), parsing: .upToNextOption, help: "Identity policy files (JSON or YAML).")
    var identity: [String] = []
    @Option(name: .customLong("resource-policy"), help: "A resource policy file.")
    var resourcePolicy: String?
    @Option(help: "The caller's ARN; leave out for an anonymous caller.")
    var principal: String?
    @Option(help: "The action, like execute-api:Invoke.")
    var action: String
    @Option(help: "The resource ARN, like arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH.")
    var resource: String
    @Option(name: .customLong("resource-account"), help: "The account that owns the resource (default: from the resource ARN).")
    var resourceAccount: String?
    @Option(name: .customLong("context"), help: "A condition key and value, KEY=VALUE. Repeatable.")
    var context: [String] = []

    func validate() throws {
        if identity.isEmpty && resourcePolicy == nil { throw ValidationError("give --identity FILE..., --resource-policy FILE, or both") }
        for c in context where !c.contains("=") { throw ValidationError("--context takes KEY=VALUE, not \"\(c)\"") }
    }

    func run() throws {
        var keys: [String: [String]] = [:]
        for c in context {
            let eq = c.firstIndex(of: "=")!
            keys[String(c[..<eq]), default: []].append(String(c[c.index(after: eq)...]))
        }
        let files = identity
        let identityDocs = try files.map(load)
        let resourceDoc = try resourcePolicy.map(load)
        let request = PolicyRequest(principal: principal, action: action, resource: resource, keys: keys)

        let idSide = PolicyEvaluator.explain(identityDocs, request)
        var lines: [String] = []
        var decision = idSide.decision
        var decidedBy = statement(idSide, files: files)
        if !identityDocs.isEmpty { lines.append("  identity policies: \(Self.name(idSide.decision))\(decidedBy.map { ", \($0)" } ?? "")") }
        if let resourceDoc, let resourcePolicy {
            let resSide = PolicyEvaluator.explain([resourceDoc], request)
            let resBy = statement(resSide, files: [resourcePolicy])
            let owner = resourceAccount ?? Self.account(resource)
            let callerAccount = principal.flatMap(Self.account)
            let same = callerAccount != nil && callerAccount == owner
            lines.append("  resource policy: \(Self.name(resSide.decision))\(resBy.map { ", \($0)" } ?? "")")
            if principal == nil {
                // An anonymous caller has no identity policies: the resource policy alone decides.
                lines.append("  caller: anonymous, so the resource policy alone decides")
                print(Self.name(resSide.decision) + (resBy.map { " (\($0))" } ?? ""))
                for l in lines { print(l) }
                if !resSide.decision.isAllowed { throw ExitCode(1) }
                return
            }
            lines.append("  accounts: principal \(callerAccount ?? "none"), resource \(owner ?? "unknown"): "
                + (same ? "same account, either side may allow" : "cross-account, both sides must allow"))
            decision = PolicyEvaluator.combine(identity: identityDocs.isEmpty ? .implicitlyDenied : idSide.decision, resource: resSide.decision, sameAccount: same)
            switch (decision, resSide.decision, idSide.decision) {
            case (.explicitlyDenied, .explicitlyDenied, _): decidedBy = resBy
            case (.explicitlyDenied, _, _): break  // the identity side's deny
            case (.allowed, .allowed, .allowed) where !same: decidedBy = [decidedBy, resBy].compactMap { $0 }.joined(separator: " and ")
            case (.allowed, .allowed, let id) where !id.isAllowed || identityDocs.isEmpty: decidedBy = resBy
            case (.allowed, _, _): break  // the identity side's allow
            default: decidedBy = nil
            }
        }
        print(Self.name(decision) + (decidedBy.map { " (\($0))" } ?? ""))
        for l in lines { print(l) }
        if !decision.isAllowed { throw ExitCode(1) }
    }

    func load(_ path: String) throws -> PolicyDocument {
        do {
            let (doc, warnings) = try ConfigLoader.loadPolicyFile(path)
            for w in warnings { printError("portcullis: warning: \(w)") }
            return doc
        } catch {
            for issue in error.issues { printError(issue.description) }
            throw ExitCode(64)
        }
    }

    /// `file.json statement 2 (Sid "X")`, 1-based as people count.
    func statement(_ r: (decision: PolicyDecision, at: (policy: Int, statement: Int)?), files: [String]) -> String? {
        guard let at = r.at else { return nil }
        let sid: String?
        switch r.decision {
        case .allowed(let s), .explicitlyDenied(let s): sid = s
        case .implicitlyDenied: sid = nil
        }
        return "\(files[at.policy]) statement \(at.statement + 1)" + (sid.map { " (Sid \"\($0)\")" } ?? "")
    }

    static func name(_ d: PolicyDecision) -> String {
        switch d {
        case .allowed: return "Allowed"
        case .explicitlyDenied: return "ExplicitlyDenied"
        case .implicitlyDenied: return "ImplicitlyDenied"
        }
    }

    /// The account field of an ARN (`arn:aws:iam::123456789012:user/x`), nil if there is none.
    static func account(_ arn: String) -> String? {
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        return parts.count == 6 && !parts[4].isEmpty ? String(parts[4]) : nil
    }
}

extension PolicyDecision {
    var isAllowed: Bool { if case .allowed = self { return true } else { return false } }
}
