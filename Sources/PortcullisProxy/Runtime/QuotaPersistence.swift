import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PortcullisConfig
import PortcullisThrottle

/// Quota counts on disk: opens the store under `state_dir` (`quota.sqlite`) and writes the
/// counters' new counts once a second on a queue of its own, never on an event loop. A store that
/// cannot be opened or written is logged and traffic goes on with the counts in memory
/// (API Gateway fails open the same way); a write that failed is retried with the next one.
final class QuotaPersistence: Sendable {
    let usage: UsageState
    private let logger: Logger
    private let queue = DispatchQueue(label: "portcullis.quota-store")
    private let task = NIOLockedValueBox<RepeatedTask?>(nil)
    private let failing = NIOLockedValueBox(false)

    init(config: PortcullisConfig, logger: Logger) {
        self.logger = logger
        var store: (any QuotaStore)? = nil
        if let dir = config.stateDir {
            mkdir(dir, 0o750)
            let path = dir + "/quota.sqlite"
            do {
                store = try SQLiteQuotaStore(path: path)
                logger.info("quota store open", metadata: ["path": "\(path)"])
            } catch {
                logger.error("quota store unusable: quotas count in memory only until it is fixed", metadata: ["error": "\(error)"])
            }
        }
        usage = UsageState(store: store)
        if config.stateDir != nil && store == nil { usage.setStoreHealthy(false) }
    }

    func start(on loop: any EventLoop) {
        guard usage.store != nil else { return }
        let t = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [self] _ in
            queue.async { self.flush() }
        }
        task.withLockedValue { $0 = t }
    }

    /// Writes now and waits (shutdown: nothing counted is left behind).
    func stop() {
        task.withLockedValue { $0?.cancel() }
        queue.sync { flush() }
    }

    /// Writes what is counted so far, then hands the store to `body` on the store's own queue
    /// (nil without a usable store): reports read every request admitted until now.
    func withFreshStore(_ body: @escaping @Sendable ((any QuotaStore)?) -> Void) {
        queue.async { [self] in
            if usage.store != nil { flush() }
            body(usage.store)
        }
    }

    private func flush() {
        for p in usage.takeStoreProblems() { logger.error("quota store", metadata: ["error": "\(p)"]) }
        do {
            try usage.flush()
            usage.setStoreHealthy(true)
            if failing.withLockedValue({ $0 }) {
                failing.withLockedValue { $0 = false }
                logger.notice("quota store writable again")
            }
        } catch {
            usage.setStoreHealthy(false)
            // Once per outage, not once a second.
            if !failing.withLockedValue({ $0 }) {
                failing.withLockedValue { $0 = true }
                logger.error("quota store write failed; counts stay in memory and are retried", metadata: ["error": "\(error)"])
            }
        }
    }
}
