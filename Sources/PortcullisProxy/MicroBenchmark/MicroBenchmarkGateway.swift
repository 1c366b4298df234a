package import NIOCore
import PortcullisAuth
import PortcullisConfig
package import PortcullisCore

// The request path's internal pieces, for the micro-benchmarks of benchmarks/micro (see
// benchmarks/README.md, "Micro-benchmarks"). package-benchmark builds its targets in release,
// where modules are not compiled for testing, so `@testable import` cannot reach these types
// there; `package` keeps this surface inside this package. The gateway never calls it. Each entry
// runs the very function the connection runs (docs/ARCHITECTURE.md, "One request, phase by
// phase"), so a benchmark measures the production code, specialized as in production.

/// A config compiled as the server compiles it (`ConfigLoader.parse`, then `Snapshot`), seen
/// from one listener.
package struct MicroBenchmarkGateway {
    let snapshot: Snapshot
    let listener: String
    /// Held as the connection holds it (`cachedView`): no dictionary lookup per request.
    let router: Router

    /// Blocking (resolves upstream host names): call before measuring.
    package init(yaml: String, listener: String) throws {
        snapshot = try Snapshot(ConfigLoader.parse(yaml, file: "microbench.yaml"))
        self.listener = listener
        guard let router = snapshot.routers[listener] else {
            throw ConfigError([ConfigIssue(file: "microbench.yaml", line: 0, column: 0, keyPath: "listeners", message: "no listener \(listener)")])
        }
        self.router = router
    }

    package var headLimits: HeadLimits { snapshot.headLimits }

    /// Phase 3 (`ProxyConnection.route`): path safety, host, API by host and stage, the path trie,
    /// the method. The matched route's template, or nil when nothing matched.
    package func route(_ head: HTTPRequestHead) -> String? {
        guard case .matched(_, let route, _, _) = ProxyConnection.route(head, with: router) else { return nil }
        return route.template
    }

    /// Phase 4 made ready for one head: routed once, its `AuthRequest` built as
    /// `ProxyConnection.admit` builds it. Nil when the head matches no route.
    package func admission(for head: HTTPRequestHead, peer: String) -> MicroBenchmarkAdmission? {
        guard case .matched(let api, let route, let params, _) = ProxyConnection.route(head, with: router) else { return nil }
        let subject = AuthRequest(
            admitting: head, api: api, route: route, params: params, clientIP: snapshot.clientIP(head, peer: IPAddress(peer)),
            id: RequestID(hi: 1, lo: 2), clientCertificate: nil, payloadHash: nil, listener: snapshot.facts(forListener: listener),
            secureTransport: false)
        return MicroBenchmarkAdmission(phases: route.phases, subject: subject)
    }
}

extension MicroBenchmarkGateway {
    /// Caches an answer of the external authorizer `name` for `head` (its route's API, its
    /// identity values), as a call returning `answer` would: the route of `head` then admits from
    /// the cache, and nothing is ever called. False when it could not be cached.
    package func rememberExternalAnswer(_ answer: String, authorizer name: String, for head: HTTPRequestHead) -> Bool {
        guard let admission = admission(for: head, peer: "192.0.2.9"),
            let authorizer = AuthEnvironment.offline.externalAuthorizers.authorizer(named: name),
            case .success(let parsed) = AuthorizerAnswer.parse(Array(answer.utf8), authorizer: name)
        else { return false }
        return authorizer.remember(parsed, for: admission.subject)
    }
}

/// One route's admission phases and one request: `run` is the driver as the connection runs it.
package struct MicroBenchmarkAdmission {
    let phases: [AdmissionStep]
    let subject: AuthRequest

    package var phaseCount: Int { phases.count }

    /// Runs every phase once, through `Admission` specialized for `AdmissionStep` (as
    /// `ProxyConnection.admit`). Nil when admitted, else the refusal. The benchmarked routes never
    /// wait (no remote key set, no external authorizer): a waiting phase is a broken benchmark.
    package func run(on loop: any EventLoop) -> Refusal? {
        var admission = Admission(phases)
        switch admission.run(subject, on: loop) {
        case .admitted: return nil
        case .refused(let refusal): return refusal
        case .waiting: preconditionFailure("a micro-benchmarked admission phase waited")
        }
    }
}

/// The client handler (`ProxyConnection`) and one upstream keep-alive connection
/// (`UpstreamConnection`) on one loop, an `EmbeddedEventLoop` in the benchmark. The caller puts
/// each handler in a channel of that loop; `poolUpstream` then makes the upstream one an idle
/// connection of its endpoint's pool, so requests take it as a reused keep-alive connection and
/// no socket is ever opened. Everything else is the gateway's own path, phases 2 to 7.
package final class MicroBenchmarkConnection {
    let context: LoopContext
    let group: UpstreamGroupSpec
    let upstreamConnection: UpstreamConnection
    package let client: any ChannelHandler
    package var upstream: any ChannelHandler { upstreamConnection }

    package init(_ gateway: MicroBenchmarkGateway, loop: any EventLoop, upstreamGroup: String) throws {
        guard let group = gateway.snapshot.upstreams[upstreamGroup], group.endpoints.count == 1 else {
            throw ConfigError([
                ConfigIssue(file: "microbench.yaml", line: 0, column: 0, keyPath: "upstreams", message: "need \(upstreamGroup) with one endpoint")
            ])
        }
        self.group = group
        // The head goes upstream at once. The server's loops send heads without a body when the
        // turn ends, one loop task per turn for all of its requests; an `EmbeddedEventLoop` task
        // costs six allocations, and a turn here holds a single request, so batching would
        // measure the embedded loop instead of the gateway.
        context = LoopContext(loop: loop, index: 0, snapshot: gateway.snapshot, accessLog: nil, maxConnections: 16)
        client = ProxyConnection(loop: context, listener: ListenerRuntime(name: gateway.listener, isTLS: false))
        upstreamConnection = UpstreamConnection()
    }

    /// Call on the loop once the upstream handler's channel is active: the pool takes it as a
    /// connection it opened, now idle.
    package func poolUpstream() {
        let pool = context.pools(of: group, in: context.snapshot)[0]
        upstreamConnection.pool = pool
        pool.open += 1
        pool.idle.append(upstreamConnection)
    }

    /// The upstream connection is idle in the pool again (the last exchange ended reusable).
    package var upstreamIsPooled: Bool {
        context.pools(of: group, in: context.snapshot)[0].idle.contains { $0 === upstreamConnection }
    }
}
