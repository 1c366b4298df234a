public import PortcullisCore
import Yams

extension ConfigLoader {
    static let apiKeys = [
        "name", "id", "stage", "region", "account", "hosts", "listeners", "not_found", "routes", "gateway_responses",
        "resource_policy", "endpoint", "throttle", "api_key_source", "stage_variables",
    ]
    static let routeKeys = [
        "path", "methods", "upstream", "auth", "websocket", "set_headers", "remove_headers", "timeout", "max_body_size",
        "scopes", "api_key_required", "claims", "throttle", "access_log_sample",
    ]

    static func parseAPI(_ r: YAMLReader, _ node: Node, _ path: String, refs: References) -> APIConfig? {
        var api = APIConfig(
            name: "", id: "", stage: "", region: "us-east-1", account: "000000000000", hosts: [.any], listeners: [],
            notFound: .rest, routes: [], gatewayResponses: [:])
        var policyNode: (Node, String)? = nil
        for (key, v, p) in r.mapping(node, path, allowed: apiKeys) {
            switch key {
            case "name": api.name = r.string(v, p) ?? ""
            case "id": api.id = r.string(v, p) ?? ""
            case "stage":
                let s = (r.string(v, p) ?? "").trimmingSlashes
                if s == "$default" { api.stage = "" } else if s.utf8.allSatisfy(isStageChar) { api.stage = s } else {
                    r.fail(v, p, "a stage is a base path segment of letters, digits, - and _ (like demo or v1)")
                }
            case "region": api.region = r.string(v, p) ?? api.region
            case "account": api.account = r.string(v, p) ?? api.account
            case "hosts": api.hosts = r.strings(v, p).map(HostPattern.init)
            case "listeners":
                api.listeners = r.strings(v, p)
                for name in api.listeners where !refs.listeners.contains(name) {
                    r.fail(v, p, "unknown listener \"\(name)\"" + Suggest.hint(for: name, in: refs.listeners))
                }
            case "not_found":
                let s = r.string(v, p) ?? "rest"
                if let n = NotFoundStyle(rawValue: s) { api.notFound = n } else {
                    r.fail(v, p, "not_found must be rest (403 Missing Authentication Token) or http (404 Not Found)")
                }
            case "routes":
                api.routes = r.sequence(v, p).compactMap { parseRoute(r, $0.0, $0.1, refs: refs) }
            case "gateway_responses": api.gatewayResponses = parseGatewayResponses(r, v, p)
            case "resource_policy": policyNode = (v, p)
            case "throttle": api.throttle = parseThrottle(r, v, p, allowPer: false)
            case "stage_variables":
                for (sk, sv, sp) in r.mapping(v, p, allowed: []) {
                    if let value = r.string(sv, sp) { api.stageVariables[sk] = value }
                }
            case "api_key_source":
                let s = r.string(v, p) ?? ""
                if s == "HEADER" { api.apiKeySource = .header } else if s.hasPrefix("AUTHORIZER") {
                    // AUTHORIZER reads the identity's `usageIdentifierKey`; `AUTHORIZER:claim` names a JWT claim.
                    let claim = s.split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init) ?? "usageIdentifierKey"
                    api.apiKeySource = .authorizer(claim: claim)
                } else {
                    r.fail(v, p, "api_key_source is HEADER (x-api-key) or AUTHORIZER[:claim] (the authorizer's usageIdentifierKey or a JWT claim)")
                }
            case "endpoint":
                let s = r.string(v, p) ?? ""
                if let e = APIEndpointType(rawValue: s) { api.endpoint = e } else {
                    r.fail(v, p, "endpoint is regional or private, not \"\(s)\"" + Suggest.hint(for: s, in: ["regional", "private"]))
                }
            default:
                r.fail(v, p, "\(key) is not supported yet by this version of Portcullis")
            }
        }
        if api.name.isEmpty { r.fail(node, "\(path).name", "every API needs a name") }
        if api.id.isEmpty { api.id = api.name }
        if let (v, p) = policyNode {
            // After the loop: short resources need the API's region, account and id.
            api.resourcePolicy = parsePolicy(r, v, p, executeAPI: "arn:aws:execute-api:\(api.region):\(api.account):\(api.id)")
        }
        if api.routes.isEmpty { r.fail(node, "\(path).routes", "an API needs at least one route") }
        if api.endpoint == .private {
            let served = api.listeners.isEmpty ? refs.listeners : api.listeners
            if !served.contains(where: refs.privateListeners.contains) {
                r.fail(node, "\(path).endpoint", "a private API answers only on listeners with private: true, and none of its listeners is private")
            }
        }
        return api
    }

    static func isStageChar(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 95
    }

    static func parseRoute(_ r: YAMLReader, _ node: Node, _ path: String, refs: References) -> RouteConfig? {
        var route = RouteConfig(
            path: "", methods: .any, upstream: "", auth: [], websocket: false, setHeaders: [], removeHeaders: [],
            timeout: nil, maxBodyBytes: nil, line: node.mark?.line ?? 0)
        var sawUpstream = false
        for (key, v, p) in r.mapping(node, path, allowed: routeKeys) {
            switch key {
            case "path":
                let s = r.string(v, p) ?? ""
                if let problem = PathTemplateSyntax.problem(in: s) { r.fail(v, p, problem) } else { route.path = s }
            case "methods":
                let names = r.strings(v, p).map { $0.uppercased() }
                for m in names where !m.utf8.allSatisfy(ASCII.isTokenChar) || m.isEmpty {
                    r.fail(v, p, "invalid method \"\(m)\"")
                }
                route.methods = names.contains(RouteMethods.anyName) ? .any : .only(names)
            case "upstream":
                sawUpstream = true
                guard let s = r.string(v, p) else { continue }
                if !refs.upstreams.contains(s) {
                    r.fail(v, p, "unknown upstream \"\(s)\"" + Suggest.hint(for: s, in: refs.upstreams))
                }
                route.upstream = s
            case "auth": route.auth = parseAuthList(r, v, p, refs: refs)
            case "websocket": route.websocket = r.bool(v, p) ?? false
            case "set_headers":
                for (hk, hv, hp) in r.mapping(v, p, allowed: []) {
                    if !hk.utf8.allSatisfy(ASCII.isTokenChar) { r.fail(hv, hp, "invalid header name \"\(hk)\"") }
                    if let s = r.string(hv, hp) { route.setHeaders.append((hk, s)) }
                }
            case "remove_headers": route.removeHeaders = r.strings(v, p)
            case "timeout": route.timeout = r.duration(v, p)
            case "max_body_size": route.maxBodyBytes = r.size(v, p)
            case "scopes":
                route.scopes = r.strings(v, p)
                if route.scopes.count > 10 { r.fail(v, p, "at most 10 scopes per route (as API Gateway allows)") }
            case "claims": route.claims = parseClaimRules(r, v, p)
            case "api_key_required": route.apiKeyRequired = r.bool(v, p) ?? false
            case "throttle": route.throttle = parseThrottle(r, v, p, allowPer: true)
            case "access_log_sample": route.accessLogSample = parseSample(r, v, p)
            default:
                r.fail(v, p, "\(key) is not supported yet by this version of Portcullis")
            }
        }
        if route.path.isEmpty { r.fail(node, "\(path).path", "every route needs a path such as /items/{id}") }
        if !sawUpstream { r.fail(node, "\(path).upstream", "every route needs an upstream" + Suggest.hint(for: "", in: refs.upstreams)) }
        return route
    }

    static func parseAuthList(_ r: YAMLReader, _ node: Node, _ path: String, refs: References) -> [AuthRequirementConfig] {
        let none = AuthRequirementConfig.noneName
        let known = refs.authorizers.union([none])
        func check(_ name: String, _ n: Node, _ p: String) {
            if !known.contains(name) { r.fail(n, p, "unknown authorizer \"\(name)\"" + Suggest.hint(for: name, in: known)) }
        }
        if case .scalar = node, let s = r.string(node, path) {
            check(s, node, path)
            return [s == none ? .none : .step(s)]
        }
        return r.sequence(node, path).compactMap { n, p in
            if case .mapping = n {
                var names: [String] = []
                for (_, v, vp) in r.mapping(n, p, allowed: ["any_of"]) {
                    names = r.strings(v, vp)
                    for name in names { check(name, v, vp) }
                }
                if names.isEmpty { return nil }
                // `none` among the alternatives makes the requirement always pass.
                return names.contains(none) ? AuthRequirementConfig.none : .anyOf(names)
            }
            guard let s = r.string(n, p) else { return nil }
            check(s, n, p)
            return s == none ? AuthRequirementConfig.none : .step(s)
        }
    }
}

/// Syntax of route path templates: `/a/{id}/b`, a final greedy `{proxy+}`.
public enum PathTemplateSyntax {
    public static func problem(in s: String) -> String? {
        guard s.hasPrefix("/") else { return "a route path starts with /, like /items/{id}" }
        let segments = s.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for (i, seg) in segments.enumerated() {
            if seg.isEmpty && i != segments.count - 1 { return "empty path segment in \"\(s)\"" }
            if seg.hasPrefix("{") || seg.hasSuffix("}") {
                guard seg.hasPrefix("{"), seg.hasSuffix("}"), seg.count > 2 else { return "invalid parameter \"\(seg)\"; write {name}" }
                if seg.hasSuffix("+}") && i != segments.count - 1 { return "a greedy parameter like {proxy+} must be the last segment" }
            } else if seg.contains("{") || seg.contains("}") {
                return "a parameter must be a whole segment, like /items/{id}"
            }
        }
        return nil
    }
}

extension String {
    var trimmingSlashes: String {
        var s = Substring(self)
        while s.hasPrefix("/") { s = s.dropFirst() }
        while s.hasSuffix("/") { s = s.dropLast() }
        return String(s)
    }
}
