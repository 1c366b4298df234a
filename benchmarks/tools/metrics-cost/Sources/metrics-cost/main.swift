// The cost per request of recording the proxy's request metrics through swift-prometheus 2.4.1
// (directly, and behind the swift-metrics 2.13.0 API) against Portcullis's per-loop flat arrays,
// on 1 and 2 threads (event loops) recording the same series. benchmarks/README.md has the figures.
// Run: cd benchmarks/tools/metrics-cost && swift run -c release metrics-cost 2
import Dispatch
import Foundation
import Metrics
import Prometheus

// What one proxied request records: requests_total{api,route,code} += 1 and one observation in
// each of two latency histograms. Two threads, as two event loops, on the same series.
let n = 5_000_000
let threads = Int(CommandLine.arguments.dropFirst().first ?? "2") ?? 2

func timed(_ name: String, per: Int = n, _ body: @escaping @Sendable (Int) -> Void) {
    let start = DispatchTime.now().uptimeNanoseconds
    DispatchQueue.concurrentPerform(iterations: threads) { t in body(t) }
    let ns = Double(DispatchTime.now().uptimeNanoseconds - start)
    print(String(format: "%-58@ %7.1f ns per request (wall, %d threads, %d requests each)", name as NSString, ns / Double(per), threads, per))
}

// swift-prometheus 2 directly, the series made once (handles cached per route, as one would).
let registry = PrometheusCollectorRegistry()
let counter = registry.makeCounter(name: "portcullis_requests_total", labels: [("api", "bench"), ("route", "/x"), ("code", "2xx")])
let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
let total = registry.makeDurationHistogram(name: "portcullis_request_duration_seconds", labels: [("api", "bench"), ("route", "/x")], buckets: buckets.map { .nanoseconds(Int64($0 * 1e9)) })
let upstream = registry.makeDurationHistogram(name: "portcullis_upstream_duration_seconds", labels: [("api", "bench"), ("route", "/x")], buckets: buckets.map { .nanoseconds(Int64($0 * 1e9)) })
timed("swift-prometheus: Counter + 2 DurationHistograms") { t in
    for i in 0..<n {
        counter.increment()
        total.recordNanoseconds(Int64(200_000 + i & 1023))
        upstream.recordNanoseconds(Int64(150_000 + i & 1023))
    }
}

// Through the swift-metrics API (the Prometheus factory behind it), handles cached.
MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()))
let mCounter = Counter(label: "requests_total", dimensions: [("api", "bench"), ("route", "/x"), ("code", "2xx")])
let mTotal = Timer(label: "request_duration", dimensions: [("api", "bench"), ("route", "/x")])
let mUp = Timer(label: "upstream_duration", dimensions: [("api", "bench"), ("route", "/x")])
timed("swift-metrics API -> Prometheus factory (handles cached)") { t in
    for i in 0..<n {
        mCounter.increment()
        mTotal.recordNanoseconds(Int64(200_000 + i & 1023))
        mUp.recordNanoseconds(Int64(150_000 + i & 1023))
    }
}
// Made per request, as code that labels by route at the call site does.
timed("swift-metrics API, handles made per request", per: n / 10) { t in
    for i in 0..<n / 10 {
        Counter(label: "requests_total", dimensions: [("api", "bench"), ("route", "/x"), ("code", "2xx")]).increment()
        Timer(label: "request_duration", dimensions: [("api", "bench"), ("route", "/x")]).recordNanoseconds(Int64(200_000 + i & 1023))
    }
}

// Portcullis's way: each loop its own flat array, summed at a scrape.
final class Box: @unchecked Sendable { var a = [[Int]](repeating: [Int](repeating: 0, count: 64), count: 64) }
let box = Box()
timed("per-loop flat arrays (Portcullis LoopMetrics layout)") { t in
    var a = [Int](repeating: 0, count: 5 + 2 * 16)
    let bounds: [Int64] = [500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000]
    for i in 0..<n {
        a[1] += 1
        for (off, v) in [(5, Int64(200 + i & 1023)), (21, Int64(150 + i & 1023))] {
            var k = 0
            while k < bounds.count && v > bounds[k] { k += 1 }
            if k < bounds.count { a[off + k] += 1 }
            a[off + 14] += Int(v)
            a[off + 15] += 1
        }
    }
    box.a[t] = a
}
