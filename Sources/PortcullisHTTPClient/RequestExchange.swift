import NIOCore
import PortcullisCore

/// Which pool a connection belongs to: connections are reused only for the same scheme, host and
/// port (and, since a client has one TLS context, the same trust settings).
struct PoolKey: Hashable {
    let isTLS: Bool
    let host: String
    let port: Int

    init(_ url: HTTPURL) {
        isTLS = url.isTLS
        host = url.host
        port = url.port
    }
}

/// One request from `execute` until its promise is completed: by a response, an error, or the
/// deadline, whichever comes first (later ones are ignored). It outlives a retry: the same
/// exchange moves to a fresh connection. Lives on the loop that runs the request; closures that
/// carry it across `Sendable` boundaries wrap it in `NIOLoopBound`.
final class RequestExchange {
    let key: PoolKey
    let method: RequestMethod
    /// The whole request as sent; sent again unchanged on a retry.
    let bytes: ByteBuffer
    /// `HTTPClientRequest.retryable`: whether the one retry on a fresh connection is allowed.
    let retryable: Bool
    let deadline: NIODeadline
    private let promise: EventLoopPromise<HTTPClientResponse>
    private var deadlineTask: Scheduled<Void>? = nil
    /// The connection carrying the request now, so the deadline can close it.
    weak var connection: PooledConnection?
    /// Set once the request was resent on a fresh connection: there is no second retry.
    var retried = false
    private(set) var isDone = false

    init(
        key: PoolKey, method: RequestMethod, bytes: ByteBuffer, retryable: Bool, deadline: NIODeadline,
        promise: EventLoopPromise<HTTPClientResponse>
    ) {
        self.key = key
        self.method = method
        self.bytes = bytes
        self.retryable = retryable
        self.deadline = deadline
        self.promise = promise
    }

    var futureResult: EventLoopFuture<HTTPClientResponse> { promise.futureResult }

    /// Arms the deadline. It fails the request and closes its connection: the server may still be
    /// writing the late answer, which must not be read as the next request's response.
    func startDeadline(on loop: any EventLoop) {
        deadlineTask = loop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            let carrier = connection
            fail(HTTPClientError.timedOut)
            carrier?.abandon(self)
        }
    }

    func succeed(_ response: HTTPClientResponse) {
        guard !isDone else { return }
        isDone = true
        deadlineTask?.cancel()
        promise.succeed(response)
    }

    func fail(_ error: any Error) {
        guard !isDone else { return }
        isDone = true
        deadlineTask?.cancel()
        promise.fail(error)
    }
}
