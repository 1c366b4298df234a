import NIOCore
import PortcullisConfig
import PortcullisCore

/// One shard of an `AuthorizerCache`: a dictionary of slots and an insertion-order queue for
/// eviction. Only ever touched under its shard's lock; every method is short and allocation-light.
/// `lookup` may get a probe (`fresh`): it stores no key unless given a promise, which only
/// `AuthorizerCache.lookup` passes, with an owned key; every other method gets owned keys.
struct AuthorizerCacheShard {
    struct Entry {
        let answer: AuthorizerAnswer
        let expires: Double
        let bytes: Int
    }

    struct Slot {
        /// The last answer, possibly expired (kept for `stale_if_error` until evicted or replaced).
        var entry: Entry?
        /// Non-nil while a call for this key is in flight: the promises waiting for it.
        var waiters: [EventLoopPromise<CallResult>]?
        /// The queue position of `entry`; older queue records of this key are skipped.
        var seq: UInt64 = 0
        /// Fulfilled once this many lookups wait on one call (tests wait on it instead of sleeping).
        var watcher: (count: Int, promise: EventLoopPromise<Void>)? = nil
    }

    enum Found {
        case hit(AuthorizerAnswer, refresh: Bool)
        case joined(watched: EventLoopPromise<Void>?)
        case led(watched: EventLoopPromise<Void>?)
        /// A waiter is needed and the caller has no promise yet: make one and look again.
        case needPromise
    }

    let maxEntries: Int
    let maxBytes: Int
    var slots: [AuthorizerCache.Key: Slot] = [:]
    var order: [(key: AuthorizerCache.Key, seq: UInt64)] = []
    var orderHead = 0
    var nextSeq: UInt64 = 1
    var counters = AuthorizerCacheCounters()

    init(maxEntries: Int, maxBytes: Int) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }

    static func entryBytes(_ key: AuthorizerCache.Key, _ answer: AuthorizerAnswer) -> Int {
        // Key, answer, and the fixed cost of a slot, a queue record and the identity.
        key.count * 2 + answer.bytes + ExternalAuthorizerConfig.Cache.entryOverhead
    }

    mutating func lookup(_ key: AuthorizerCache.Key, now: Double, refreshAhead: Double, promise: EventLoopPromise<CallResult>?) -> Found {
        if let i = slots.index(forKey: key) {
            // Read in place: copying the slot out retained its answer, waiters and watcher.
            if let expires = slots.values[i].entry?.expires, now < expires {
                let refresh = refreshAhead > 0 && now >= expires - refreshAhead && slots.values[i].waiters == nil
                if refresh { slots.values[i].waiters = [] }
                counters.hits += 1
                return .hit(slots.values[i].entry!.answer, refresh: refresh)
            }
            guard let promise else { return .needPromise }
            if slots.values[i].waiters != nil {
                slots.values[i].waiters!.append(promise)
                counters.coalesced += 1
                return .joined(watched: watched(key))
            }
            slots[key]!.waiters = [promise]
            counters.misses += 1
            return .led(watched: watched(key))
        }
        guard let promise else { return .needPromise }
        slots[key] = Slot(entry: nil, waiters: [promise])
        counters.misses += 1
        return .led(watched: nil)
    }

    /// The watcher's promise once enough lookups wait (taken out: fulfilled once).
    private mutating func watched(_ key: AuthorizerCache.Key) -> EventLoopPromise<Void>? {
        guard let w = slots[key]?.watcher, (slots[key]?.waiters?.count ?? 0) >= w.count else { return nil }
        slots[key]!.watcher = nil
        return w.promise
    }

    /// Registers a watcher; returns its promise at once when the count is already reached.
    mutating func watch(_ key: AuthorizerCache.Key, count: Int, promise: EventLoopPromise<Void>) -> EventLoopPromise<Void>? {
        var slot = slots[key] ?? Slot()
        slot.watcher = (count, promise)
        slots[key] = slot
        return watched(key)
    }

    mutating func complete(_ key: AuthorizerCache.Key, _ result: CallResult, now: Double, settings: AuthorizerCache.Settings)
        -> (CallResult, [EventLoopPromise<CallResult>])
    {
        guard var slot = slots[key] else {
            // Flushed while the call was in flight: nothing to keep, nobody waiting here.
            if case .answer(let a) = result { store(key, a, now: now, settings: settings) }
            return (result, [])
        }
        let waiters = slot.waiters ?? []
        slot.waiters = nil
        var delivered = result
        switch result {
        case .answer(let a):
            slots[key] = slot
            store(key, a, now: now, settings: settings)
            return (delivered, waiters)
        case .failed:
            counters.errors += 1
            // A failing authorizer: the last answer still serves while it is fresh (a refresh
            // failed) or within stale_if_error after it expired.
            if let e = slot.entry, now < e.expires || now <= e.expires + settings.staleIfError {
                if now >= e.expires { counters.staleServed += 1 }
                delivered = .answer(e.answer)
                slots[key] = slot
                return (delivered, waiters)
            }
        case .misconfigured:
            counters.errors += 1
        case .unauthorized:
            break
        }
        // Never cached, and the old answer no longer stands (the token was refused, or it is too old).
        remove(key, slot)
        return (delivered, waiters)
    }

    mutating func store(_ key: AuthorizerCache.Key, _ answer: AuthorizerAnswer, now: Double, settings: AuthorizerCache.Settings) {
        let ttl = answer.deniesAll ? settings.denyTTL : settings.ttl
        var slot = slots[key] ?? Slot()
        if let old = slot.entry {
            counters.entries -= 1
            counters.bytes -= old.bytes
            slot.entry = nil
        }
        guard ttl > 0 else {
            if slot.waiters == nil { slots[key] = nil } else { slots[key] = slot }
            return
        }
        let bytes = Self.entryBytes(key, answer)
        slot.entry = Entry(answer: answer, expires: now + ttl, bytes: bytes)
        slot.seq = nextSeq
        nextSeq += 1
        slots[key] = slot
        order.append((key, slot.seq))
        counters.entries += 1
        counters.bytes += bytes
        evict()
    }

    mutating func remove(_ key: AuthorizerCache.Key, _ slot: Slot) {
        if let e = slot.entry {
            counters.entries -= 1
            counters.bytes -= e.bytes
        }
        if slot.waiters == nil {
            slots[key] = nil
        } else {
            var s = slot
            s.entry = nil
            slots[key] = s
        }
    }

    /// Oldest entries first, until within both bounds. A slot with a call in flight keeps its
    /// waiters; only its entry goes.
    mutating func evict() {
        while counters.entries > maxEntries || counters.bytes > maxBytes, orderHead < order.count {
            let (key, seq) = order[orderHead]
            orderHead += 1
            guard let slot = slots[key], slot.seq == seq, slot.entry != nil else { continue }
            remove(key, slot)
            counters.evictions += 1
        }
        // Drop the consumed part of the queue now and then (amortised O(1)).
        if orderHead > 1024 && orderHead * 2 > order.count {
            order.removeFirst(orderHead)
            orderHead = 0
        }
        // Replaced entries leave dead records behind; rebuild when they dominate.
        if order.count - orderHead > 4 * max(counters.entries, 256) {
            order = order[orderHead...].filter { slots[$0.key]?.seq == $0.seq }
            orderHead = 0
        }
    }

    mutating func flush() {
        for (key, slot) in slots where slot.entry != nil { remove(key, slot) }
        order = []
        orderHead = 0
    }
}
