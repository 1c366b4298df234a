import NIOCore
import PortcullisConfig
import PortcullisCore

/// State owned by one event loop: the current snapshot, upstream pools, open connections,
/// the request-id generator and the access-log buffer. Touched only on `loop`, so it needs
/// no locks; other threads reach it through `loop.execute` (see `LoopContextRef`).
final class LoopContext {
    let loop: any EventLoop
    let index: Int
    var snapshot: Snapshot
    var random: FastRandom
    var pools: [String: EndpointPool] = [:]
    var roundRobin: [String: Int] = [:]
    var connections: [ObjectIdentifier: ProxyConnection] = [:]
    var accessLog: AccessLogBuffer
    var draining = false
    var maxConnections: Int
    private var sweeper: RepeatedTask?

    init(loop: any EventLoop, index: Int, snapshot: Snapshot, accessLog: AccessLogSink?, maxConnections: Int) {
        self.loop = loop
        self.index = index
        self.snapshot = snapshot
        var seed: UInt64 = 0
        for _ in 0..<4 { seed = seed << 16 ^ UInt64.random(in: 0...UInt64.max) }
        self.random = FastRandom(seed: seed ^ UInt64(index))
        self.accessLog = AccessLogBuffer(sink: accessLog)
        self.maxConnections = maxConnections
    }

    /// Starts the per-loop timer that enforces head, idle and upstream timeouts and flushes the
    /// access log: one timer per loop instead of one per request.
    func start(sweepInterval: TimeAmount = .milliseconds(100)) {
        sweeper = loop.scheduleRepeatedTask(initialDelay: sweepInterval, delay: sweepInterval) { [self] _ in
            let now = NIODeadline.now()
            for c in connections.values { c.checkTimeouts(now: now) }
            accessLog.flush()
        }
    }

    func stop() {
        sweeper?.cancel()
        sweeper = nil
        accessLog.flush()
    }

    func pool(for spec: EndpointSpec, group: UpstreamGroupSpec) -> EndpointPool {
        if let p = pools[spec.key] {
            p.update(spec: spec, group: group)
            return p
        }
        let p = EndpointPool(loop: self, spec: spec, group: group)
        pools[spec.key] = p
        return p
    }

    /// Picks a healthy endpoint of a group by its balancing rule, or nil if all are ejected.
    func pickEndpoint(_ group: UpstreamGroupSpec, now: NIODeadline, excluding: EndpointPool?) -> EndpointPool? {
        let n = group.endpoints.count
        guard n > 0 else { return nil }
        switch group.balance {
        case .roundRobin:
            let start = roundRobin[group.name, default: 0]
            for k in 0..<n {
                let p = pool(for: group.endpoints[(start + k) % n], group: group)
                if p.isHealthy(now) && p !== excluding {
                    roundRobin[group.name] = (start + k + 1) % n
                    return p
                }
            }
            return nil
        case .leastOutstanding:
            var best: EndpointPool? = nil
            for e in group.endpoints {
                let p = pool(for: e, group: group)
                guard p.isHealthy(now), p !== excluding else { continue }
                if best == nil || p.outstanding < best!.outstanding { best = p }
            }
            return best
        }
    }
}

/// A `Sendable` handle to a loop's context; NIOLoopBound checks at runtime that it is used on its loop.
typealias LoopContextRef = NIOLoopBound<LoopContext>
