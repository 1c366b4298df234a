import Synchronization

/// Token buckets by a key made per request (a client address, a principal), all with the same
/// limits, bounded in memory. Sharded: a loop locks one of 16 shards for a lookup, never one lock
/// shared by every request. When a shard is full, buckets that have filled up again (idle
/// callers: dropping them loses nothing) are evicted; if none has, the oldest half goes.
public final class KeyedBuckets: Sendable {
    public let rate: Double
    public let burst: Int
    let maxPerShard: Int
    private let shards: [Shard]

    final class Shard: Sendable {
        let table = Mutex<[String: TokenBucket]>([:])
    }

    public init(rate: Double, burst: Int, maxEntries: Int = 65_536) {
        self.rate = rate
        self.burst = burst
        maxPerShard = max(16, maxEntries / 16)
        shards = (0..<16).map { _ in Shard() }
    }

    public func bucket(for key: String, now: UInt64) -> TokenBucket {
        var h = Hasher()
        h.combine(key)
        let shard = shards[Int(UInt(bitPattern: h.finalize()) % 16)]
        return shard.table.withLock { table in
            if let b = table[key] { return b }
            if table.count >= maxPerShard {
                let idle = table.filter { $0.value.fullIn(now: now) == 0 }.map(\.key)
                if idle.isEmpty {
                    for k in table.keys.prefix(table.count / 2) { table[k] = nil }
                } else {
                    for k in idle { table[k] = nil }
                }
            }
            let b = TokenBucket(rate: rate, burst: burst, now: now)
            table[key] = b
            return b
        }
    }

    /// How many buckets are held (for tests and metrics).
    public var count: Int { shards.reduce(0) { $0 + $1.table.withLock { $0.count } } }
}
