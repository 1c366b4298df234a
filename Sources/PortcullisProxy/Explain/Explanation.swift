import Foundation

/// What `portcullis explain` found for one request: the route, each admission phase's decision
/// with its reason, and the answer the server would give. A value: printed as text or JSON.
public struct Explanation: Sendable {
    public enum Verdict: String, Sendable {
        case admitted
        case refused
        /// A phase would call out (a remote key set, an external authorizer) and the network is off.
        case undecidedOffline = "undecided offline"
    }

    public struct Phase: Sendable {
        public var number: Int
        public var title: String
        /// `pass`, `refuse` or `undecided`.
        public var decision: String
        public var detail: String
    }

    public var listener = ""
    public var listenerAddress = ""
    public var client = ""
    public var method = ""
    public var path = ""
    public var api: String?
    public var apiID: String?
    public var stage: String?
    public var route: String?
    public var parameters: [(name: String, value: String)] = []
    public var phases: [Phase] = []
    public var verdict = Verdict.refused
    /// The answer's status; 0 when undecided, and for an admitted request (the upstream answers).
    public var status = 0
    public var gatewayResponse: String?
    public var errorType: String?
    public var body: String?
    /// Headers of the gateway response beyond Content-Type, Content-Length and the request ids.
    public var responseHeaders: [(String, String)] = []
    /// The refusal's reason, as the access log would write it.
    public var reason: String?
    public var upstream: String?
    public var endpoint: String?
    /// The request line and headers the upstream would receive.
    public var upstreamRequest: [String] = []
    /// Of those, the headers the gateway adds or changes.
    public var addedHeaders: [String] = []
    /// Names of the client's headers that do not go upstream (hop-by-hop, consumed credentials,
    /// route removals, forged identity headers).
    public var removedHeaders: [String] = []
    /// What the phase left undecided would call (`--online` does).
    public var wouldCall: String?

    /// 0 admitted, 1 refused, 3 undecided offline (2 is a config error, reported before this exists).
    public var exitCode: Int32 {
        switch verdict {
        case .admitted: return 0
        case .refused: return 1
        case .undecidedOffline: return 3
        }
    }

    public var text: String {
        var lines: [String] = []
        var head = "listener \(listener) (\(listenerAddress))"
        if let api { head += " → api \(api) (id \(apiID ?? "?"), stage \(stage.map { $0.isEmpty ? "none" : $0 } ?? "?"))" }
        if let route {
            head += " → route \(method) \(route)"
            if !parameters.isEmpty { head += " (" + parameters.map { "\($0.name)=\($0.value)" }.joined(separator: ", ") + ")" }
        } else {
            head += " → no route for \(method) \(path)"
        }
        lines.append(head)
        lines.append("client \(client)")
        if route != nil && phases.isEmpty && verdict == .admitted { lines.append("  no admission phases: an open route") }
        let width = max(18, phases.map(\.title.count).max() ?? 0)
        for p in phases {
            let title = p.title.padding(toLength: width, withPad: " ", startingAt: 0)
            let decision = p.decision.padding(toLength: 9, withPad: " ", startingAt: 0)
            lines.append("\(p.number) \(title) \(decision) \(p.detail)")
        }
        switch verdict {
        case .admitted:
            let requestLine = (upstreamRequest.first ?? "").split(separator: " ")
            let target = requestLine.count > 1 ? String(requestLine[1]) : "?"
            lines.append("answer: admitted: forwarded to upstream \(upstream ?? "?") endpoint \(endpoint ?? "?"), path \(target), with these added headers:")
            for h in addedHeaders { lines.append("  \(h)") }
            if !removedHeaders.isEmpty { lines.append("  and without the client's \(removedHeaders.joined(separator: ", "))") }
        case .refused:
            lines.append("answer: \(status) \(gatewayResponse ?? "") \(body ?? "")")
            for (k, v) in responseHeaders { lines.append("  \(k): \(v)") }
            if let reason { lines.append("  reason: \(reason)") }
        case .undecidedOffline:
            lines.append("answer: undecided offline: \(wouldCall ?? "a phase would call out"); --online makes the call")
        }
        return lines.joined(separator: "\n")
    }

    /// The same as `text`, for programs (and the tests).
    public var json: String {
        var o: [String: Any] = [
            "listener": listener, "listener_address": listenerAddress, "client": client, "method": method, "path": path,
            "verdict": verdict.rawValue, "exit_code": Int(exitCode),
            "phases": phases.map { ["number": $0.number, "phase": $0.title, "decision": $0.decision, "detail": $0.detail] as [String: Any] },
        ]
        if let api { o["api"] = ["name": api, "id": apiID ?? "", "stage": stage ?? ""] }
        if let route {
            o["route"] = route
            o["parameters"] = Dictionary(parameters.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        }
        switch verdict {
        case .admitted:
            o["upstream"] = [
                "name": upstream ?? "", "endpoint": endpoint ?? "", "request": upstreamRequest, "added_headers": addedHeaders,
                "removed_headers": removedHeaders,
            ]
        case .refused:
            var a: [String: Any] = ["status": status, "headers": Dictionary(responseHeaders, uniquingKeysWith: { a, _ in a })]
            if let gatewayResponse { a["gateway_response"] = gatewayResponse }
            if let errorType { a["error_type"] = errorType }
            if let body { a["body"] = body }
            if let reason { a["reason"] = reason }
            o["answer"] = a
        case .undecidedOffline:
            o["would_call"] = wouldCall ?? ""
        }
        let data = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
