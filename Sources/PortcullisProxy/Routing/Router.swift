import PortcullisAuth
import PortcullisConfig
import PortcullisCore
#if canImport(Glibc)
import Glibc
#endif

/// A compiled route: everything a request needs once it has matched.
final class CompiledRoute: Sendable {
    let template: String
    /// Methods as enum values: compared per request without hashing strings.
    let methodList: [RequestMethod]
    let anyMethod: Bool
    /// Index of the upstream group in the snapshot (and in each loop's pool table).
    let upstreamIndex: Int
    /// The admission phases after routing, in order; empty for an open route.
    let phases: [AdmissionStep]
    /// A phase reads the body (SigV4): it is read whole before admission.
    let needsBody: Bool
    let websocket: Bool
    /// Lower-cased names of headers the route removes before forwarding.
    let removeHeaders: [[UInt8]]
    /// Pre-rendered `Name: value\r\n` lines the route adds.
    let setHeaderLines: [UInt8]
    let setHeaderNames: [[UInt8]]
    /// `set_headers` values with `$context` variables, rendered per request.
    let headerTemplates: [HeaderTemplate]
    let timeout: Duration?
    let maxBodyBytes: Int64?
    /// The route's series in the per-loop metrics (`RouteSlots`), stable across reloads.
    let metricsSlot: Int
    /// Requests answered below 400 get an access-log line when the loop's random draw is below
    /// this (`AccessLogBuffer.sampled`); `UInt64.max`: every one.
    let logThreshold: UInt64
    /// The phases that are `auth:` entries, with their decision counters' slot (`RouteSlots.authorizer`).
    let authorizerPhases: [(phase: Int, slot: Int)]

    init(
        _ c: RouteConfig, phases: [AdmissionStep], upstreamIndex: Int, metricsSlot: Int = 0, accessLogSample: Double = 1,
        slots: RouteSlots? = nil
    ) {
        self.metricsSlot = metricsSlot
        authorizerPhases = phases.enumerated().compactMap { i, p in
            guard case .authorize(let requirement) = p, let slots else { return nil }
            return (i, slots.authorizer(requirement.name))
        }
        logThreshold = AccessLogBuffer.threshold(sample: c.accessLogSample ?? accessLogSample)
        template = c.path
        switch c.methods {
        case .any:
            methodList = []
            anyMethod = true
        case .only(let names):
            methodList = names.map(RequestMethod.init)
            anyMethod = false
        }
        self.upstreamIndex = upstreamIndex
        self.phases = phases
        needsBody = phases.contains { $0.needsBody }
        websocket = c.websocket
        removeHeaders = c.removeHeaders.map { Array($0.lowercased().utf8) }
        setHeaderNames = c.setHeaders.map { Array($0.0.lowercased().utf8) }
        let templates = c.setHeaders.compactMap { HeaderTemplate(name: $0.0, value: $0.1) }
        headerTemplates = templates
        setHeaderLines = Array(
            c.setHeaders.filter { h in !templates.contains { $0.name == h.0 } }.map { "\($0.0): \($0.1)\r\n" }.joined().utf8)
        timeout = c.timeout
        maxBodyBytes = c.maxBodyBytes
    }

    func allows(_ method: RequestMethod) -> Bool {
        anyMethod || methodList.contains(method)
    }
}

/// A path parameter bound during matching, as offsets into the request path: Strings are made
/// only when a later phase asks for the value.
typealias ParamRange = PathParameterSpan

/// Path templates of one API as a segment trie over bytes: literal beats `{param}` beats
/// `{greedy+}`, so the most specific template wins whatever the order in the file. Matching walks
/// the request path in place; nothing is split or copied.
final class RouteNode: Sendable {
    let literals: [([UInt8], RouteNode)]
    let param: (name: String, node: RouteNode)?
    let greedy: (name: String, routes: [CompiledRoute])?
    let routes: [CompiledRoute]

    init(literals: [([UInt8], RouteNode)], param: (String, RouteNode)?, greedy: (String, [CompiledRoute])?, routes: [CompiledRoute]) {
        self.literals = literals
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
            literals: literals.sorted { $0.key < $1.key }.map { (Array($0.key.utf8), build($0.value)) },
            param: params.isEmpty ? nil : (paramName, build(params)),
            greedy: greedy.isEmpty ? nil : (greedyName, greedy),
            routes: here)
    }

    /// Finds the routes for `p[i...]` (a path); parameters are appended as they bind.
    func match(_ p: UnsafeRawBufferPointer, _ from: Int, _ params: inout [ParamRange]) -> [CompiledRoute]? {
        var i = from
        let n = p.count
        while i < n && p[i] == 47 { i += 1 }  // empty segments are skipped, as API Gateway does
        if i == n { return routes.isEmpty ? nil : routes }
        var e = i
        while e < n && p[e] != 47 { e += 1 }
        let len = e - i
        for (key, child) in literals where key.count == len {
            let equal = key.withUnsafeBytes { k in memcmp(k.baseAddress!, p.baseAddress! + i, len) == 0 }
            if equal, let r = child.match(p, e, &params) { return r }
        }
        if let (name, child) = param {
            let mark = params.count
            // One allocation for a route's parameters, not one per growth of the array.
            if params.capacity == 0 { params.reserveCapacity(4) }
            params.append(ParamRange(name: name, start: i, end: e))
            if let r = child.match(p, e, &params) { return r }
            params.removeSubrange(mark...)
        }
        if let (name, routes) = greedy {
            var end = n
            while end > i && p[end - 1] == 47 { end -= 1 }
            if params.capacity == 0 { params.reserveCapacity(4) }
            params.append(ParamRange(name: name, start: i, end: end))
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
    /// "/stage" or "" for an API at the root, as bytes.
    let prefix: [UInt8]
    let trie: RouteNode
    let responder: GatewayResponder
    let apiRef: AuthRequest.APIRef

    init(
        _ c: APIConfig, steps: [String: AuthStep], upstreams: [String: Int], responder: GatewayResponder, usage: UsageCompiler,
        slots: RouteSlots = RouteSlots(), accessLogSample: Double = 1
    ) {
        config = APIConfigRef(name: c.name, notFound: c.notFound)
        hosts = c.hosts
        listeners = Set(c.listeners)
        prefix = c.stage.isEmpty ? [] : Array(("/" + c.stage).utf8)
        let apiRef = AuthRequest.APIRef(id: c.id, stage: c.stage, region: c.region, account: c.account)
        let entries = c.routes.map { r -> ([Substring], CompiledRoute) in
            let segs = r.path.split(separator: "/", omittingEmptySubsequences: true)
            let auth = AuthCompiler.compile(
                r.auth, authorizers: steps, scopes: r.scopes, claims: r.claims, resourcePolicy: c.resourcePolicy, stageVariables: c.stageVariables)
            let phases = AdmissionStep.compile(
                auth: auth, privateAPI: c.endpoint == .private, resourcePolicy: c.resourcePolicy, api: apiRef,
                usage: usage.phases(api: c, route: r))
            let route = CompiledRoute(
                r, phases: phases, upstreamIndex: upstreams[r.upstream] ?? -1, metricsSlot: slots.slot(api: c.name, route: r.path),
                accessLogSample: accessLogSample, slots: slots)
            return (segs, route)
        }
        trie = RouteNode.build(entries)
        self.responder = responder
        self.apiRef = apiRef
    }

    /// 0 = no match; higher is more specific (exact host > longest wildcard > any).
    func hostScore(_ host: UnsafeRawBufferPointer) -> Int {
        var best = 0
        for h in hosts {
            switch h {
            case .any: best = max(best, 1)
            case .exact(let e):
                var e = e
                if e.withUTF8({ ASCII.equalsIgnoringCase(host, UnsafeRawBufferPointer($0)) }) { best = max(best, 100_000) }
            case .suffix(let s):
                var s = s
                let n = s.utf8.count
                if host.count > n,
                    s.withUTF8({ ASCII.equalsIgnoringCase(UnsafeRawBufferPointer(rebasing: host[(host.count - n)...]), UnsafeRawBufferPointer($0)) })
                {
                    best = max(best, 2 + n)
                }
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
    /// `restStart`: where the path after the stage prefix starts, relative to the path.
    case matched(CompiledAPI, CompiledRoute, params: [ParamRange], restStart: Int)
    /// No route (or wrong method/stage): answered as the closest API answers, or REST style.
    case notFound(CompiledAPI?)
    /// A path no upstream should be trusted to read the same way (dot segments, encoded slashes).
    case unsafePath(String)
}

/// Routes of one listener: host, then stage base path, then the path trie, then the method.
/// Works on the request's bytes: the host value (port stripped) and the path (query stripped).
struct Router: Sendable {
    let apis: [CompiledAPI]

    func route(host: UnsafeRawBufferPointer, path: UnsafeRawBufferPointer, method: RequestMethod) -> RouteMatch {
        var best: CompiledAPI? = nil
        var bestScore = (0, -1)
        var hostOnly: CompiledAPI? = nil
        for api in apis {
            let hs = api.hostScore(host)
            if hs == 0 { continue }
            if hostOnly == nil { hostOnly = api }
            let k = api.prefix.count
            guard path.count >= k, api.prefix.withUnsafeBytes({ memcmp($0.baseAddress ?? path.baseAddress!, path.baseAddress!, k) == 0 }) else {
                continue
            }
            guard path.count == k || path[k] == 47 else { continue }
            if (hs, k) > bestScore {
                best = api
                bestScore = (hs, k)
            }
        }
        guard let api = best else { return .notFound(hostOnly) }
        var params: [ParamRange] = []
        guard let routes = api.trie.match(path, api.prefix.count, &params),
            let route = routes.first(where: { !$0.anyMethod && $0.allows(method) })
                ?? routes.first(where: { $0.allows(method) })
        else { return .notFound(api) }
        return .matched(api, route, params: params, restStart: api.prefix.count)
    }
}
