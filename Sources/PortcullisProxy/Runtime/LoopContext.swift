import Logging
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
    /// Pools by endpoint key: they survive reloads that keep the endpoint.
    var pools: [String: EndpointPool] = [:]
    /// Endpoint health shared with the other loops (one store per server); a new pool takes its
    /// endpoint's record from here.
    let endpointHealth: EndpointHealthStore
    /// Pools by group index and endpoint index for the current snapshot; rebuilt when it changes.
    private var table: [[EndpointPool]] = []
    /// Held strongly: an identifier alone could match a newer snapshot allocated at the same address.
    private var tableSnapshot: Snapshot?
    private var roundRobin: [Int] = []
    var connections: [ObjectIdentifier: ProxyConnection] = [:]
    /// Head buffers shared by the loop's connections, so that an idle connection holds none. A
    /// response head, and an upstream head with a body, is written and flushed before the loop
    /// turns to another connection; upstream heads without a body collect here during a turn and
    /// go out together at its end (`sendUpstreamHeadAtTurnEnd`). Once the sockets took the bytes
    /// the next `clear()` keeps the storage (a head still queued on a slow socket makes `clear()`
    /// take fresh storage instead: never shared bytes).
    var requestHeadScratch = ByteBuffer()
    var responseHeadScratch = ByteBuffer()
    var accessLog: AccessLogBuffer
    var draining = false
    var maxConnections: Int
    let logger: Logger
    /// Counters of this loop; summed across loops on demand (`PortcullisServer.stats()`).
    var stats = LoopStats()
    /// Request metrics of this loop, when the admin listener is on (`PortcullisServer.metricsText(on:)`).
    var metrics = LoopMetrics()
    /// Upstream request heads without a body are sent once per turn of the loop, after every
    /// ready client connection has been read (`sendUpstreamHeadAtTurnEnd`), instead of one
    /// write and flush per request as it is admitted. When the upstream shares a core with the
    /// gateway, each flush wakes it, and a woken upstream preempts the gateway in the middle of
    /// its batch: a pair of context switches per request instead of per batch
    /// (benchmarks/README.md, "Upstream heads sent once per loop turn"). Off for a loop driven by
    /// hand (`EmbeddedEventLoop` in unit tests and micro-benchmarks), where a task waits for `run()`.
    let batchesUpstreamFlushes: Bool
    /// This turn's heads, written one after another into `requestHeadScratch`: no allocation
    /// per request, each goes out as a slice of it.
    private var headsToSend: [(connection: UpstreamConnection, exchange: UInt64, start: Int, length: Int)] = []
    private var sweeper: RepeatedTask?
    /// The most connections open at once since the last memory trim (`MemoryTrim`).
    private var peakConnections = 0
    /// How far below that peak this loop's count must fall to ask for a trim: the server's
    /// `MemoryTrim.connectionsDrop` shared out among its loops.
    var trimDrop = MemoryTrim.connectionsDrop

    /// - Parameter endpointHealth: the server's store, the same for every loop; the default, a store
    ///   of its own, suits a lone loop in tests.
    init(
        loop: any EventLoop, index: Int, snapshot: Snapshot, accessLog: AccessLogSink?, maxConnections: Int,
        endpointHealth: EndpointHealthStore = EndpointHealthStore(), logger: Logger = Logger(label: "portcullis"),
        batchesUpstreamFlushes: Bool = false
    ) {
        self.loop = loop
        self.batchesUpstreamFlushes = batchesUpstreamFlushes
        self.endpointHealth = endpointHealth
        self.logger = logger
        self.index = index
        self.snapshot = snapshot
        var seed: UInt64 = 0
        for _ in 0..<4 { seed = seed << 16 ^ UInt64.random(in: 0...UInt64.max) }
        self.random = FastRandom(seed: seed ^ UInt64(index))
        self.accessLog = AccessLogBuffer(sink: accessLog, seed: 0x9E37_79B9_7F4A_7C15 &* UInt64(index + 1))
        self.maxConnections = maxConnections
    }

    /// Requests of this loop whose admission phases are running or waiting.
    var admittingCount: Int { connections.values.filter { $0.machine.state == .admitting }.count }

    /// Appends the head `write` makes for `c` to this turn's heads; the first of a turn schedules
    /// the task that sends them all once the loop has read every ready connection. A head whose
    /// exchange has ended meanwhile (its connection closed or failed) is not sent.
    func sendUpstreamHeadAtTurnEnd(_ c: UpstreamConnection, _ write: (inout ByteBuffer) -> Void) {
        let start = requestHeadScratch.writerIndex
        write(&requestHeadScratch)
        headsToSend.append((c, c.headQueued(), start, requestHeadScratch.writerIndex - start))
        if headsToSend.count == 1 {
            loop.execute { [self] in
                // By index: a flush can fail at once and, through the request's retry or the next
                // pipelined request, queue another head before this loop is done.
                var i = 0
                while i < headsToSend.count {
                    let h = headsToSend[i]
                    i += 1
                    guard h.connection.headSent(exchange: h.exchange) else { continue }
                    h.connection.write(requestHeadScratch.getSlice(at: h.start, length: h.length)!)
                    h.connection.flush()
                }
                headsToSend.removeAll(keepingCapacity: true)
                // The sockets took the bytes, so no slice holds the storage and `clear()` keeps it
                // (a head still queued on a slow socket keeps its slice: `clear()` then takes new
                // storage, and the queued bytes stay as they were).
                requestHeadScratch.clear()
            }
        }
    }

    /// Starts the per-loop timer that enforces head, idle and upstream timeouts and flushes the
    /// access log: one timer per loop instead of one per request.
    func start(sweepInterval: TimeAmount = .milliseconds(100)) {
        sweeper = loop.scheduleRepeatedTask(initialDelay: sweepInterval, delay: sweepInterval) { [self] _ in
            let now = NIODeadline.now()
            for c in connections.values { c.checkTimeouts(now: now) }
            accessLog.flush()
            let open = connections.count
            if open > peakConnections {
                peakConnections = open
            } else if peakConnections - open >= trimDrop, MemoryTrim.connectionsDropped(now: now.uptimeNanoseconds) {
                peakConnections = open
            }
        }
    }

    func stop() {
        sweeper?.cancel()
        sweeper = nil
        accessLog.flush()
    }

    /// The pools of a group's endpoints under `snapshot`, by endpoint index.
    func pools(of group: UpstreamGroupSpec, in snapshot: Snapshot) -> [EndpointPool] {
        if tableSnapshot !== snapshot {
            table = snapshot.groups.map { g in
                g.endpoints.map { e in
                    if let p = pools[e.key] {
                        p.update(spec: e, group: g)
                        return p
                    }
                    let p = EndpointPool(loop: self, spec: e, group: g, health: endpointHealth.record(for: e.key))
                    pools[e.key] = p
                    return p
                }
            }
            roundRobin = Array(repeating: 0, count: snapshot.groups.count)
            tableSnapshot = snapshot
        }
        return table[group.index]
    }

    /// Picks an endpoint of a group by its balancing rule, skipping ejected ones and `excluding`.
    ///
    /// When every endpoint left is ejected, health is ignored and the rule picks among all of them
    /// (Envoy's panic threshold; nginx never marks a lone server down): the request then gets a real
    /// answer, or a 502 if the connect fails, instead of a 503 while the endpoint may already be back,
    /// and the connect that succeeds readmits the endpoint on every loop. Nil only if no endpoint is
    /// left once `excluding` is taken out.
    func pickEndpoint(
        _ group: UpstreamGroupSpec, in snapshot: Snapshot, now: NIODeadline, excluding: EndpointPool?
    ) -> EndpointPool? {
        let candidates = pools(of: group, in: snapshot)
        return pick(candidates, of: group, now: now, excluding: excluding, healthyOnly: true)
            ?? pick(candidates, of: group, now: now, excluding: excluding, healthyOnly: false)
    }

    private func pick(
        _ candidates: [EndpointPool], of group: UpstreamGroupSpec, now: NIODeadline, excluding: EndpointPool?,
        healthyOnly: Bool
    ) -> EndpointPool? {
        let n = candidates.count
        guard n > 0 else { return nil }
        switch group.balance {
        case .roundRobin:
            let start = roundRobin[group.index]
            for k in 0..<n {
                let p = candidates[(start + k) % n]
                if p !== excluding && (!healthyOnly || p.isHealthy(now)) {
                    roundRobin[group.index] = (start + k + 1) % n
                    return p
                }
            }
            return nil
        case .leastOutstanding:
            var best: EndpointPool? = nil
            for p in candidates where p !== excluding && (!healthyOnly || p.isHealthy(now)) {
                if best == nil || p.outstanding < best!.outstanding { best = p }
            }
            return best
        }
    }
}

/// Per-loop counters: plain integers, never shared between threads.
public struct LoopStats: Sendable {
    public var connectionsAccepted = 0
    public var tlsHandshakes = 0
    public var tlsHandshakeFailures = 0

    static func + (a: LoopStats, b: LoopStats) -> LoopStats {
        LoopStats(
            connectionsAccepted: a.connectionsAccepted + b.connectionsAccepted, tlsHandshakes: a.tlsHandshakes + b.tlsHandshakes,
            tlsHandshakeFailures: a.tlsHandshakeFailures + b.tlsHandshakeFailures)
    }
}

/// A `Sendable` handle to a loop's context; NIOLoopBound checks at runtime that it is used on its loop.
typealias LoopContextRef = NIOLoopBound<LoopContext>
