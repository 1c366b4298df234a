public import NIOCore
import Synchronization

/// One value per event loop of a group, found by the loop a request runs on, so that per-request
/// state (caches) takes no lock shared by the loops. A loop outside the group (tests' embedded
/// loops, command-line tools) or no loop at all shares one more value behind a lock.
///
/// The map from loop to value is built at creation and never changes (read without a lock);
/// each value lives in a `NIOLoopBoundBox`, whose accessor checks the thread.
public final class PerLoop<Value: Sendable>: Sendable {
    private let perLoop: [ObjectIdentifier: NIOLoopBoundBox<Value>]
    private let shared: Mutex<Value>

    public init(group: (any EventLoopGroup)?, _ make: () -> Value) {
        var map: [ObjectIdentifier: NIOLoopBoundBox<Value>] = [:]
        if let group {
            for loop in group.makeIterator() {
                map[ObjectIdentifier(loop)] = NIOLoopBoundBox.makeBoxSendingValue(make(), eventLoop: loop)
            }
        }
        perLoop = map
        shared = Mutex(make())
    }

    /// Runs `body` with the value of `loop` (the caller runs on `loop`), or the shared one.
    public func with<R>(_ loop: (any EventLoop)?, _ body: (inout Value) -> R) -> R {
        if let loop, let box = perLoop[ObjectIdentifier(loop)] {
            return box.withValue { body(&$0) }
        }
        return shared.withLock { body(&$0) }
    }
}
