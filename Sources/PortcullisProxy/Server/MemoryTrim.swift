#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// Gives memory back to the kernel after a burst of connections has closed. glibc's malloc keeps
/// the pages it freed in the middle of a thread's heap; after 10,000 idle keep-alive connections
/// close, the process would stay at its peak size for good. Each loop reports when its connection
/// count has fallen well below its peak; the trim runs off the loops (it walks every heap and
/// takes each one's lock briefly), at most once per `minimumInterval`.
enum MemoryTrim {
    /// A server asks for a trim once its connections are this many fewer than their peak since
    /// the last trim (each loop watches its share: this divided by the loops, at least 64).
    static let connectionsDrop = 1024
    static let minimumInterval: Duration = .seconds(10)

    private static let lastTrim = Atomic<Int64>(0)
    private static let queue = DispatchQueue(label: "portcullis.malloc-trim", qos: .utility)
    /// glibc's `malloc_trim` (a GNU extension the Glibc module does not export), found once.
    private static let trim: (@convention(c) (Int) -> Int32)? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
        return nil
        #endif
    }()

    /// Called by a loop's sweeper; `now` in nanoseconds of uptime. False when another trim ran
    /// less than `minimumInterval` ago (the loop asks again on a later sweep).
    static func connectionsDropped(now: UInt64) -> Bool {
        let last = lastTrim.load(ordering: .relaxed)
        let nowNanos = Int64(truncatingIfNeeded: now)
        guard last == 0 || nowNanos - last >= Int64(minimumInterval.components.seconds) * 1_000_000_000 else { return false }
        guard lastTrim.compareExchange(expected: last, desired: nowNanos, ordering: .relaxed).exchanged else { return false }
        guard let trim else { return false }
        queue.async { _ = trim(0) }
        return true
    }
}
