import PortcullisAuth
import PortcullisConfig
import PortcullisCore

/// A compiled route: everything a request needs once it has matched.
final class CompiledRoute: Sendable {
    let template: String
    let methods: Set<String>
    let upstream: String
    let auth: AuthChain
    let websocket: Bool
    /// Lower-cased names of headers the route removes before forwarding.
    let removeHeaders: [[UInt8]]
    /// Pre-rendered `Name: value\r\n` lines the route adds.
    let setHeaderLines: [UInt8]
    let setHeaderNames: [[UInt8]]
    let timeout: Duration?
    let maxBodyBytes: Int64?

    init(_ c: RouteConfig, auth: AuthChain) {
        template = c.path
        methods = Set(c.methods)
        upstream = c.upstream
        self.auth = auth
        websocket = c.websocket
        removeHeaders = c.removeHeaders.map { Array($0.lowercased().utf8) }
        setHeaderNames = c.setHeaders.map { Array($0.0.lowercased().utf8) }
        setHeaderLines = Array(c.setHeaders.map { "\($0.0): \($0.1)\r\n" }.joined().utf8)
        timeout = c.timeout
        maxBodyBytes = c.maxBodyBytes
    }

    func allows(_ method: RequestMethod) -> Bool {
        methods.contains("ANY") || methods.contains(method.name)
    }
}

/// Path templates of one API as a segment trie: literal beats `{param}` beats `{greedy+}`,
/// so the most specific template wins whatever the order in the file.
final class RouteNode: Sendable {
    let literal: [String: RouteNode]
    let param: (name: String, node: RouteNode)?
    let greedy: (name: String, routes: [CompiledRoute])?
    let routes: [CompiledRoute]

    init(literal: [String: RouteNode], param: (String, RouteNode)?, greedy: (String, [CompiledRoute])?, routes: [CompiledRoute]) {
        self.literal = literal
        self.param = param
        self.greedy = greedy
        self.routes = routes
    }

    /// Builds the trie from (segments, route) pairs.
    static func build(_ entries: [([Substring], CompiledRoute)]) -> RouteNode {
        var here: [CompiledRoute] = []
        var literals: [String: [([Substring], CompiledRoute)]] = [:]
        var params: [([Substring], CompiledRoute)] = []
        var paramName = ""
        var greedy: [CompiledRoute] = []
        var greedyName = ""
        for (segs, route) in entries {
            guard let first = segs.first else {
                here.append(route)
                continue
            }
            if first.hasPrefix("{") && first.hasSuffix("+}") {
                greedyName = String(first.dropFirst().dropLast(2))
                greedy.append(route)
            } else if first.hasPrefix("{") {
                paramName = String(first.dropFirst().dropLast())
                params.append((Array(segs.dropFirst()), route))
            } else {
                literals[String(first), default: []].append((Array(segs.dropFirst()), route))
            }
        }
        return RouteNode(
            literal: literals.mapValues(build),
            param: params.isEmpty ? nil : (paramName, build(params)),
            greedy: greedy.isEmpty ? nil : (greedyName, greedy),
            routes: here)
    }

    /// Finds the routes for the remaining segments; parameters are appended as they bind.
    func match(_ segs: ArraySlice<Substring>, _ params: inout [(String, String)]) -> [CompiledRoute]? {
        guard let first = segs.first else {
            if !routes.isEmpty { return routes }
            return nil
        }
        let rest = segs.dropFirst()
        if let child = literal[String(first)], let r = child.match(rest, &params) { return r }
        if let (name, child) = param, !first.isEmpty {
            let mark = params.count
            params.append((name, String(first)))
            if let r = child.match(rest, &params) { return r }
            params.removeSubrange(mark...)
        }
        if let (name, routes) = greedy, !first.isEmpty {
            params.append((name, segs.joined(separator: "/")))
            return routes
        }
        return nil
    }
}

/// One API as the router sees it.
final class CompiledAPI: Sendable {
    let config: APIConfigRef
    let hosts: [HostPattern]
    let listeners: Set<String>
    /// "/stage" or "" for an API at the root.
    let prefix: String
    let trie: RouteNode
    let responder: GatewayResponder
    let apiRef: AuthRequest.APIRef

    init(_ c: APIConfig, steps: [String: AuthStep], responder: GatewayResponder) {
        config = APIConfigRef(name: c.name, notFound: c.notFound)
        hosts = c.hosts
        listeners = Set(c.listeners)
        prefix = c.stage.isEmpty ? "" : "/" + c.stage
        let entries = c.routes.map { r -> ([Substring], CompiledRoute) in
            let segs = r.path.split(separator: "/", omittingEmptySubsequences: true)
            return (segs, CompiledRoute(r, auth: AuthCompiler.compile(r.auth, authorizers: steps)))
        }
        trie = RouteNode.build(entries)
        self.responder = responder
        apiRef = .init(id: c.id, stage: c.stage, region: c.region, account: c.account)
    }

    /// 0 = no match; higher is more specific (exact host > longest wildcard > any).
    func hostScore(_ host: String) -> Int {
        var best = 0
        for h in hosts {
            switch h {
            case .any: best = max(best, 1)
            case .exact(let e): if e == host { best = max(best, 100_000) }
            case .suffix(let s): if host.hasSuffix(s) && host.count > s.count { best = max(best, 2 + s.count) }
            }
        }
        return best
    }
}

struct APIConfigRef: Sendable {
    let name: String
    let notFound: NotFoundStyle
}

/// The outcome of routing, a value handed to the next phase.
enum RouteMatch {
    case matched(CompiledAPI, CompiledRoute, params: [(String, String)], upstreamPath: Substring)
    /// No route (or wrong method/stage): answered as the closest API answers, or REST style.
    case notFound(CompiledAPI?)
}

/// Routes of one listener: host, then stage base path, then the path trie, then the method.
struct Router: Sendable {
    let apis: [CompiledAPI]

    func route(host: String, path: Substring, method: RequestMethod) -> RouteMatch {
        var best: CompiledAPI? = nil
        var bestScore = (0, -1)
        var hostOnly: CompiledAPI? = nil
        for api in apis {
            let hs = api.hostScore(host)
            if hs == 0 { continue }
            if hostOnly == nil { hostOnly = api }
            guard path.hasPrefix(api.prefix) else { continue }
            let after = path.dropFirst(api.prefix.count)
            guard after.isEmpty || after.hasPrefix("/") else { continue }
            if (hs, api.prefix.count) > bestScore {
                best = api
                bestScore = (hs, api.prefix.count)
            }
        }
        guard let api = best else { return .notFound(hostOnly) }
        let rest = path.dropFirst(api.prefix.count)
        let segs = rest.split(separator: "/", omittingEmptySubsequences: true)
        var params: [(String, String)] = []
        guard let routes = api.trie.match(segs[...], &params),
            let route = routes.first(where: { !$0.methods.contains("ANY") && $0.allows(method) })
                ?? routes.first(where: { $0.allows(method) })
        else { return .notFound(api) }
        return .matched(api, route, params: params, upstreamPath: rest.isEmpty ? "/" : rest)
    }
}
