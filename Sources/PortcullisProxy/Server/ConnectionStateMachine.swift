import NIOCore

/// The life of one client connection as a pure value: which state it is in, whether it may carry
/// another request, which deadline applies. `ProxyConnection` feeds it events and carries out the
/// `Action` it returns; the machine never touches a channel, so it is tested as event tables
/// (`ConnectionStateMachineTests`). Requests on a connection are handled one at a time, which is
/// what keeps pipelined answers in order.
struct ConnectionStateMachine {
    enum State: Equatable {
        /// Between requests: reading (or waiting for) the next head.
        case idle
        /// Head parsed: route and admission phases running; a phase may be waiting on a future.
        case admitting
        /// The route's phases read the body (SigV4 signs its hash): it is read whole, and kept in
        /// the inbound buffer for the upstream, before admission runs.
        case bufferingBody
        /// Admitted: waiting for a connection from this loop's upstream pool.
        case connecting
        /// An upstream holds the request: body and response may both be flowing.
        case exchanging
        /// After a 101: bytes pass both ways untouched.
        case tunnel
        /// Closing or closed: nothing more is read, answered or logged.
        case closed
    }

    enum Action: Equatable {
        case none
        /// Write the gateway's answer to the current request, then report `requestEnded()`.
        case answer(keepAlive: Bool)
        /// Flush what was written and close the channel.
        case close
        /// The request is over and the connection stays: read on, start pipelined requests.
        case awaitNextRequest
        /// The upstream did not answer in time: drop it, then answer 504.
        case upstreamTimedOut
        /// The idle connection saw its head deadline pass with part of a head: answer 408.
        case headTimedOut
        /// A body being read for admission stopped arriving: answer 408 and close.
        case bodyTimedOut
    }

    private(set) var state: State = .idle
    /// The current request may be followed by another one on this connection.
    private(set) var keepAlive = true
    /// The whole request body has been read (or there is none).
    private(set) var requestBodyDone = true
    /// Part of the answer has reached the client: a failure can only close the connection now.
    private(set) var responseStarted = false
    /// The client half-closed: the request in flight (or the first complete one buffered) is
    /// answered, then the connection closes.
    private(set) var inputClosed = false

    private(set) var headDeadline: NIODeadline?
    private(set) var idleDeadline: NIODeadline?
    private(set) var responseDeadline: NIODeadline?
    /// While buffering a body for admission: when it must have arrived whole.
    private(set) var bodyDeadline: NIODeadline?

    init(now: NIODeadline, headTimeout: TimeAmount) {
        headDeadline = now + headTimeout
    }

    var isInRequest: Bool {
        switch state {
        case .admitting, .bufferingBody, .connecting, .exchanging: return true
        case .idle, .tunnel, .closed: return false
        }
    }

    // MARK: Requests

    /// Bytes of a new head arrived while idle: the head timeout runs from now.
    mutating func headStarted(now: NIODeadline, headTimeout: TimeAmount) {
        if headDeadline == nil { headDeadline = now + headTimeout }
    }

    /// A complete head was parsed: admission starts.
    mutating func headParsed(keepAlive: Bool, hasBody: Bool, draining: Bool) {
        precondition(state == .idle, "a head while \(state)")
        state = .admitting
        self.keepAlive = keepAlive && !draining && !inputClosed
        requestBodyDone = !hasBody
        responseStarted = false
        headDeadline = nil
        idleDeadline = nil
        responseDeadline = nil
    }

    /// The bytes before a usable head are refused (malformed, too large, bare LF): the answer
    /// closes the connection, since where the next request would start is unknown.
    mutating func headRejected() -> Action {
        guard state == .idle else { return .none }
        state = .admitting
        keepAlive = false
        requestBodyDone = true
        responseStarted = false
        headDeadline = nil
        return .answer(keepAlive: false)
    }

    /// The route reads the body before admission: it must arrive whole by `deadline`.
    mutating func bodyBufferingStarted(deadline: NIODeadline) {
        guard state == .admitting else { return }
        state = .bufferingBody
        bodyDeadline = deadline
    }

    /// The body is in the buffer: admission runs.
    mutating func bodyBuffered() {
        guard state == .bufferingBody else { return }
        state = .admitting
        bodyDeadline = nil
    }

    /// Every admission phase passed; the upstream must answer by `deadline`.
    mutating func admitted(responseDeadline deadline: NIODeadline) {
        guard state == .admitting || state == .connecting else { return }
        state = .connecting
        responseDeadline = deadline
    }

    /// The pool handed over a connection and the upstream head was written (or, without a body,
    /// queued for the end of the loop turn).
    mutating func upstreamAttached() {
        guard state == .connecting else { return }
        state = .exchanging
    }

    /// A phase, the pool or the upstream refused before any response byte left: the gateway
    /// answers. `bodyDiscarded` says a refused request's body was skipped in the buffer, so the
    /// next request's start is known and the connection may stay.
    mutating func refused(closeConnection: Bool, bodyDiscarded: Bool, draining: Bool) -> Action {
        guard isInRequest, !responseStarted else { return close() }
        if bodyDiscarded { requestBodyDone = true }
        if closeConnection || draining || !requestBodyDone { keepAlive = false }
        return .answer(keepAlive: keepAlive)
    }

    /// The request body ended at its framing.
    mutating func requestBodyFinished() { requestBodyDone = true }

    /// The request body cannot be forwarded (too large, malformed): no keep-alive after it, and
    /// once a response has started the only honest signal left is closing.
    mutating func requestBodyAborted() -> Action {
        keepAlive = false
        requestBodyDone = true
        if responseStarted {
            state = .closed
            return .close
        }
        return .answer(keepAlive: false)
    }

    /// The upstream's response head is going to the client. `keepAlive` is what the response
    /// allows (framing, HTTP/1.0, a 101 nobody asked for).
    mutating func responseHead(keepAlive responseAllows: Bool, tunnel: Bool, draining: Bool) {
        guard state == .exchanging else { return }
        responseStarted = true
        responseDeadline = nil
        if !responseAllows || draining { keepAlive = false }
        if tunnel { state = .tunnel }
    }

    /// The upstream's answer ended at its framing. True when the upstream connection may be
    /// reused: an answer before the whole request body arrived leaves that connection mid-body.
    mutating func responseEnded(reusable: Bool) -> Bool {
        if !requestBodyDone { keepAlive = false }
        return reusable && requestBodyDone
    }

    /// The upstream failed. Before the response started the gateway may retry or answer (the
    /// caller decides which); after, the connection closes.
    mutating func upstreamFailed() -> Action {
        guard state == .exchanging || state == .connecting else { return .none }
        if responseStarted {
            keepAlive = false
            state = .closed
            return .close
        }
        state = .connecting
        return .none
    }

    /// The current request is over (answered by the gateway or the upstream, and logged).
    mutating func requestEnded(now: NIODeadline, idleTimeout: TimeAmount, draining: Bool) -> Action {
        guard state != .closed else { return .none }
        responseDeadline = nil
        if !keepAlive || draining || inputClosed {
            state = .closed
            return .close
        }
        state = .idle
        requestBodyDone = true
        idleDeadline = now + idleTimeout
        return .awaitNextRequest
    }

    // MARK: Connection events

    /// The client half-closed its side. An idle connection parses what it has buffered and then
    /// closes (`closeIfStillIdle` after that); a request in flight is answered first. Further
    /// pipelined requests are not answered: the connection closes after that one answer.
    mutating func clientInputClosed() {
        inputClosed = true
        keepAlive = false
    }

    /// Called after buffered bytes were parsed following `clientInputClosed`.
    mutating func closeIfStillIdle() -> Action {
        guard state == .idle else { return .none }
        state = .closed
        return .close
    }

    /// The gateway decided to close (an error, the tunnel ended, the upstream ended a tunnel).
    mutating func close() -> Action {
        guard state != .closed else { return .none }
        state = .closed
        return .close
    }

    /// The channel is gone. True when a request was in flight: it is logged as abandoned (499).
    mutating func channelClosed() -> Bool {
        let wasInRequest = isInRequest
        state = .closed
        return wasInRequest
    }

    /// The loop's sweeper: head timeout (408), idle close, drain of idle connections, and the
    /// upstream's response timeout (504). `buffered` is how many unparsed bytes are waiting.
    mutating func tick(now: NIODeadline, draining: Bool, buffered: Int) -> Action {
        switch state {
        case .idle:
            if let d = headDeadline, now >= d {
                _ = headRejected()
                return .headTimedOut
            }
            if let d = idleDeadline, now >= d { return close() }
            if draining && buffered == 0 { return close() }
            return .none
        case .connecting, .exchanging:
            guard !responseStarted, let d = responseDeadline, now >= d else { return .none }
            responseDeadline = nil
            if !requestBodyDone { keepAlive = false }
            state = .connecting
            return .upstreamTimedOut
        case .bufferingBody:
            guard let d = bodyDeadline, now >= d else { return .none }
            bodyDeadline = nil
            keepAlive = false
            return .bodyTimedOut
        case .admitting, .tunnel, .closed:
            return .none
        }
    }

    /// Reads pause while the upstream cannot take more body bytes, and while a request is in
    /// flight and enough pipelined bytes wait: memory stays flat whatever the client sends.
    /// `upstreamWritable` is read only in the states that need it (it asks the upstream channel).
    func shouldPauseReading(buffered: Int, upstreamWritable: @autoclosure () -> Bool?) -> Bool {
        switch state {
        case .idle, .closed: return false
        // Bounded by the route's body limit, checked as the bytes arrive.
        case .bufferingBody: return false
        case .tunnel: return !(upstreamWritable() ?? true)
        case .admitting, .connecting: return buffered >= 64 * 1024
        case .exchanging:
            if !requestBodyDone { return !(upstreamWritable() ?? false) }
            return buffered >= 64 * 1024
        }
    }
}
