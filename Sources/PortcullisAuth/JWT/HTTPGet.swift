public import NIOCore
import NIOPosix
public import PortcullisTLS

/// A minimal HTTP/1.1 GET client for key sets and discovery documents: one connection per
/// request (`Connection: close`), TLS through PortcullisTLS's client handler, a deadline covering
/// connect and response, and a size cap. Runs entirely on the given event loop.
public struct HTTPGetter: Sendable {
    public let timeout: TimeAmount
    public let maxBytes: Int
    /// Needed for https URLs; built once per key source (it loads the CA store).
    public let tls: TLSClientContext?

    public init(timeout: TimeAmount, maxBytes: Int, tls: TLSClientContext?) {
        self.timeout = timeout
        self.maxBytes = maxBytes
        self.tls = tls
    }

    public func get(_ url: HTTPURL, on loop: any EventLoop) -> EventLoopFuture<HTTPGetResponse> {
        loop.flatSubmit { [self] in
            let promise = loop.makePromise(of: HTTPGetResponse.self)
            let completion = NIOLoopBound(GetCompletion(promise), eventLoop: loop)
            if url.isTLS && tls == nil {
                completion.value.fail(HTTPGetError.invalidResponse("https is not configured for \(url)"))
                return promise.futureResult
            }
            let deadline = loop.scheduleTask(in: timeout) { completion.value.fail(HTTPGetError.timedOut) }
            let maxBytes = self.maxBytes
            let tls = self.tls
            let request = "GET \(url.target) HTTP/1.1\r\nHost: \(url.hostHeader)\r\nAccept: application/json\r\nUser-Agent: portcullis\r\nConnection: close\r\n\r\n"
            ClientBootstrap(group: loop)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    do {
                        if url.isTLS, let tls {
                            // The host is matched against the certificate (DNS or IP SAN); SNI is sent for names only.
                            let handler = try TLSClientHandler(context: tls, serverHostname: url.host)
                            try channel.pipeline.syncOperations.addHandler(handler)
                        }
                        try channel.pipeline.syncOperations.addHandler(HTTPGetHandler(completion: completion.value, maxBytes: maxBytes))
                        return channel.eventLoop.makeSucceededVoidFuture()
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }
                .connect(host: url.host, port: url.port)
                .whenComplete { result in
                    switch result {
                    case .success(let channel):
                        channel.writeAndFlush(ByteBuffer(string: request), promise: nil)
                        promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                    case .failure(let error):
                        completion.value.fail(error)
                    }
                }
            promise.futureResult.whenComplete { _ in deadline.cancel() }
            return promise.futureResult
        }
    }
}
