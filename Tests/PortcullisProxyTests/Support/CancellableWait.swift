import NIOCore
import Synchronization

extension EventLoopFuture where Value: Sendable {
    /// `get()` that gives up when the test's task is cancelled. `EventLoopFuture.get()` ignores
    /// cancellation, so a test waiting on an event that never comes (a broken single flight)
    /// would hang past its `.timeLimit`; with this it fails at the limit instead.
    func valueOrCancel() async throws -> Value {
        let slot = Mutex<CheckedContinuation<Value, any Error>?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Value, any Error>) in
                slot.withLock { $0 = c }
                if Task.isCancelled { slot.withLock { $0.take() }?.resume(throwing: CancellationError()) }
                self.whenComplete { result in slot.withLock { $0.take() }?.resume(with: result) }
            }
        } onCancel: {
            slot.withLock { $0.take() }?.resume(throwing: CancellationError())
        }
    }
}
