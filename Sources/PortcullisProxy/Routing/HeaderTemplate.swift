import PortcullisCore

/// A `set_headers` value with API Gateway's `$context` variables, compiled once per snapshot:
/// `$context.authorizer.claims.NAME`, `$context.authorizer.principalId`, `$context.authorizer.KEY`
/// (an external authorizer's context), `$context.requestId`,
/// `$context.identity.sourceIp`. A value without variables is pre-rendered and costs nothing extra.
struct HeaderTemplate: Sendable {
    enum Part: Sendable {
        case text(String)
        case claim(String)
        case principal
        case requestID
        case sourceIP
    }

    let name: String
    let parts: [Part]

    /// nil when `value` has no variable (the caller pre-renders it).
    init?(name: String, value: String) {
        guard value.contains("$context.") else { return nil }
        self.name = name
        var parts: [Part] = []
        var rest = Substring(value)
        let fixed: [(String, Part)] = [
            ("$context.authorizer.principalId", .principal), ("$context.requestId", .requestID),
            ("$context.identity.sourceIp", .sourceIP),
        ]
        outer: while let dollar = rest.firstIndex(of: "$") {
            if dollar > rest.startIndex { parts.append(.text(String(rest[..<dollar]))) }
            let tail = rest[dollar...]
            for (token, part) in fixed where tail.hasPrefix(token) {
                parts.append(part)
                rest = tail.dropFirst(token.count)
                continue outer
            }
            // `$context.authorizer.claims.NAME` (JWT) or `$context.authorizer.KEY` (an external
            // authorizer's context): both are the identity's claims.
            let claimPrefix = tail.hasPrefix("$context.authorizer.claims.") ? "$context.authorizer.claims." : "$context.authorizer."
            if tail.hasPrefix(claimPrefix), tail.count > claimPrefix.count {
                let nameStart = tail.index(tail.startIndex, offsetBy: claimPrefix.count)
                let nameEnd = tail[nameStart...].firstIndex { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" || $0 == "-" || $0 == ".") } ?? tail.endIndex
                parts.append(.claim(String(tail[nameStart..<nameEnd])))
                rest = tail[nameEnd...]
                continue
            }
            parts.append(.text("$"))
            rest = tail.dropFirst()
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        self.parts = parts
    }

    /// The header line, or nothing when a variable has no value (as API Gateway leaves it out).
    func line(identity: Identity?, requestID: String, sourceIP: String) -> String? {
        var value = ""
        for p in parts {
            switch p {
            case .text(let t): value += t
            case .claim(let c):
                guard let v = identity?.claims[c] else { return nil }
                value += v
            case .principal:
                guard let v = identity?.principal else { return nil }
                value += v
            case .requestID: value += requestID
            case .sourceIP: value += sourceIP
            }
        }
        // Claims are caller-controlled text: no line breaks may reach the upstream head.
        guard !value.utf8.contains(where: { $0 == 13 || $0 == 10 }) else { return nil }
        return "\(name): \(value)\r\n"
    }
}
