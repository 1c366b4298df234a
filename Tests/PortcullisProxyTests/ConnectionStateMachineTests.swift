import NIOCore
import Testing

@testable import PortcullisProxy

/// The connection's lifecycle as event → action tables, with a fake clock.
@Suite struct ConnectionStateMachineTests {
    typealias M = ConnectionStateMachine
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    let headTimeout = TimeAmount.seconds(5)
    let idleTimeout = TimeAmount.seconds(30)

    func fresh() -> M { M(now: t0, headTimeout: headTimeout) }

    /// A request that reaches the upstream and gets its response head.
    func exchanging(keepAlive: Bool = true, hasBody: Bool = false) -> M {
        var m = fresh()
        m.headParsed(keepAlive: keepAlive, hasBody: hasBody, draining: false)
        m.admitted(responseDeadline: t0 + .seconds(29))
        m.upstreamAttached()
        return m
    }

    @Test func keepAliveRequestReturnsToIdle() {
        var m = exchanging()
        #expect(m.state == .exchanging)
        m.responseHead(keepAlive: true, tunnel: false, draining: false)
        let reusable = m.responseEnded(reusable: true)
        #expect(reusable)
        #expect(m.requestEnded(now: t0, idleTimeout: idleTimeout, draining: false) == .awaitNextRequest)
        #expect(m.state == .idle)
        #expect(m.idleDeadline == t0 + idleTimeout)
        #expect(m.headDeadline == nil && m.responseDeadline == nil)
    }

    /// What ends the connection after a request: each row is one reason.
    @Test func closeAfterTheRequestTable() {
        struct Row {
            let name: String
            let requestKeepAlive: Bool
            let responseAllows: Bool
            let draining: Bool
            let inputClosed: Bool
        }
        let rows = [
            Row(name: "client asked to close", requestKeepAlive: false, responseAllows: true, draining: false, inputClosed: false),
            Row(name: "response framing forbids reuse", requestKeepAlive: true, responseAllows: false, draining: false, inputClosed: false),
            Row(name: "server draining", requestKeepAlive: true, responseAllows: true, draining: true, inputClosed: false),
            Row(name: "client half-closed", requestKeepAlive: true, responseAllows: true, draining: false, inputClosed: true),
        ]
        for row in rows {
            var m = exchanging(keepAlive: row.requestKeepAlive)
            if row.inputClosed { m.clientInputClosed() }
            m.responseHead(keepAlive: row.responseAllows, tunnel: false, draining: row.draining)
            #expect(!m.keepAlive, "\(row.name)")
            _ = m.responseEnded(reusable: true)
            #expect(m.requestEnded(now: t0, idleTimeout: idleTimeout, draining: row.draining) == .close, "\(row.name)")
            #expect(m.state == .closed, "\(row.name)")
        }
    }

    @Test func refusalKeepsTheConnectionOnlyWhenTheNextRequestStartIsKnown() {
        // (has body, body discarded, refusal closes, draining) -> keep-alive of the answer
        let table: [(Bool, Bool, Bool, Bool, Bool)] = [
            (false, false, false, false, true),
            (true, true, false, false, true),
            (true, false, false, false, false),  // body not buffered: the next request would start mid-body
            (false, false, true, false, false),
            (false, false, false, true, false),
        ]
        for (hasBody, discarded, closes, draining, keep) in table {
            var m = fresh()
            m.headParsed(keepAlive: true, hasBody: hasBody, draining: false)
            let a = m.refused(closeConnection: closes, bodyDiscarded: discarded, draining: draining)
            #expect(a == .answer(keepAlive: keep), "\(hasBody) \(discarded) \(closes) \(draining)")
            #expect(m.requestEnded(now: t0, idleTimeout: idleTimeout, draining: draining) == (keep ? .awaitNextRequest : .close))
        }
    }

    /// A body read whole for admission (SigV4): reads never pause, it has its own deadline, and a
    /// refusal before it is complete cannot keep the connection.
    @Test func bufferingBodyForAdmission() {
        var m = fresh()
        m.headParsed(keepAlive: true, hasBody: true, draining: false)
        m.bodyBufferingStarted(deadline: t0 + .seconds(30))
        #expect(m.state == .bufferingBody && m.isInRequest)
        #expect(!m.shouldPauseReading(buffered: 8 << 20, upstreamWritable: nil))
        #expect(m.tick(now: t0 + .seconds(29), draining: false, buffered: 10) == .none)
        var late = m
        #expect(late.tick(now: t0 + .seconds(30), draining: false, buffered: 10) == .bodyTimedOut)
        #expect(late.refused(closeConnection: true, bodyDiscarded: false, draining: false) == .answer(keepAlive: false))

        var refused = m
        #expect(refused.refused(closeConnection: false, bodyDiscarded: false, draining: false) == .answer(keepAlive: false))
        var discarded = m
        #expect(discarded.refused(closeConnection: false, bodyDiscarded: true, draining: false) == .answer(keepAlive: true))

        m.bodyBuffered()
        #expect(m.state == .admitting)
        #expect(m.tick(now: t0 + .seconds(3600), draining: false, buffered: 10) == .none)
        m.admitted(responseDeadline: t0 + .seconds(29))
        m.upstreamAttached()
        #expect(m.state == .exchanging && !m.requestBodyDone)
    }

    @Test func refusalAfterTheResponseStartedCanOnlyClose() {
        var m = exchanging()
        m.responseHead(keepAlive: true, tunnel: false, draining: false)
        #expect(m.refused(closeConnection: false, bodyDiscarded: false, draining: false) == .close)
        #expect(m.state == .closed)
        let abandoned = m.channelClosed()
        #expect(!abandoned)  // logged once, when it was refused
    }

    @Test func badHeadIsAnsweredAndCloses() {
        var m = fresh()
        #expect(m.headRejected() == .answer(keepAlive: false))
        #expect(m.requestEnded(now: t0, idleTimeout: idleTimeout, draining: false) == .close)
        #expect(m.headRejected() == .none)
    }

    @Test func timeoutsByState() {
        // Head timeout on a new connection: 408.
        var m = fresh()
        #expect(m.tick(now: t0 + .seconds(4), draining: false, buffered: 3) == .none)
        #expect(m.tick(now: t0 + .seconds(5), draining: false, buffered: 3) == .headTimedOut)
        #expect(m.state == .admitting && !m.keepAlive)

        // Idle keep-alive connection: closed at the idle deadline, or at once when draining.
        var idle = exchanging()
        idle.responseHead(keepAlive: true, tunnel: false, draining: false)
        _ = idle.responseEnded(reusable: true)
        _ = idle.requestEnded(now: t0, idleTimeout: idleTimeout, draining: false)
        var draining = idle
        #expect(idle.tick(now: t0 + .seconds(29), draining: false, buffered: 0) == .none)
        #expect(idle.tick(now: t0 + .seconds(30), draining: false, buffered: 0) == .close)
        #expect(idle.state == .closed)
        #expect(draining.tick(now: t0, draining: true, buffered: 0) == .close)

        // Upstream silent past its deadline: 504, once; not after the response started.
        var waiting = exchanging()
        #expect(waiting.tick(now: t0 + .seconds(28), draining: false, buffered: 0) == .none)
        #expect(waiting.tick(now: t0 + .seconds(29), draining: false, buffered: 0) == .upstreamTimedOut)
        #expect(waiting.tick(now: t0 + .seconds(60), draining: false, buffered: 0) == .none)
        #expect(waiting.refused(closeConnection: false, bodyDiscarded: false, draining: false) == .answer(keepAlive: true))
        var answered = exchanging()
        answered.responseHead(keepAlive: true, tunnel: false, draining: false)
        #expect(answered.tick(now: t0 + .seconds(60), draining: false, buffered: 0) == .none)

        // Admission phases waiting on an authorizer have no upstream deadline yet.
        var admitting = fresh()
        admitting.headParsed(keepAlive: true, hasBody: false, draining: false)
        #expect(admitting.tick(now: t0 + .seconds(3600), draining: false, buffered: 0) == .none)
    }

    /// The 504 on a second keep-alive request: its deadline is its own, not reset by hand.
    @Test func secondRequestGetsItsOwnResponseDeadline() {
        var m = exchanging()
        m.responseHead(keepAlive: true, tunnel: false, draining: false)
        _ = m.responseEnded(reusable: true)
        _ = m.requestEnded(now: t0, idleTimeout: idleTimeout, draining: false)
        m.headParsed(keepAlive: true, hasBody: false, draining: false)
        m.admitted(responseDeadline: t0 + .seconds(40))
        #expect(m.tick(now: t0 + .seconds(40), draining: false, buffered: 0) == .upstreamTimedOut)
    }

    @Test func upstreamFailureBeforeAndAfterTheResponseStarted() {
        var before = exchanging()
        #expect(before.upstreamFailed() == .none)
        #expect(before.state == .connecting)  // the caller may retry or answer 502
        #expect(before.refused(closeConnection: false, bodyDiscarded: false, draining: false) == .answer(keepAlive: true))

        var after = exchanging()
        after.responseHead(keepAlive: true, tunnel: false, draining: false)
        #expect(after.upstreamFailed() == .close)
        #expect(after.state == .closed)
        #expect(after.refused(closeConnection: false, bodyDiscarded: false, draining: false) == .none)
    }

    @Test func bodyAbortedBeforeAndAfterTheResponse() {
        var before = exchanging(hasBody: true)
        #expect(before.requestBodyAborted() == .answer(keepAlive: false))
        var after = exchanging(hasBody: true)
        after.responseHead(keepAlive: true, tunnel: false, draining: false)
        #expect(after.requestBodyAborted() == .close)
    }

    @Test func earlyAnswerWithBodyStillComingIsNotReused() {
        var m = exchanging(hasBody: true)
        m.responseHead(keepAlive: true, tunnel: false, draining: false)
        let reusable = m.responseEnded(reusable: true)
        #expect(!reusable)
        #expect(m.requestEnded(now: t0, idleTimeout: idleTimeout, draining: false) == .close)
    }

    @Test func halfCloseAndChannelClose() {
        var idle = fresh()
        idle.clientInputClosed()
        #expect(idle.closeIfStillIdle() == .close)

        var busy = exchanging()
        busy.clientInputClosed()
        #expect(busy.closeIfStillIdle() == .none)
        let abandoned = busy.channelClosed()
        #expect(abandoned)  // a request was in flight: logged as 499
        #expect(!fresh().isInRequest)
    }

    @Test func tunnelAndReadPausing() {
        var m = exchanging()
        #expect(m.shouldPauseReading(buffered: 64 * 1024, upstreamWritable: true))
        #expect(!m.shouldPauseReading(buffered: 10, upstreamWritable: false))
        var withBody = exchanging(hasBody: true)
        #expect(withBody.shouldPauseReading(buffered: 0, upstreamWritable: false))
        #expect(!withBody.shouldPauseReading(buffered: 0, upstreamWritable: true))
        withBody.requestBodyFinished()
        #expect(!withBody.shouldPauseReading(buffered: 0, upstreamWritable: false))
        m.responseHead(keepAlive: true, tunnel: true, draining: false)
        #expect(m.state == .tunnel)
        #expect(m.shouldPauseReading(buffered: 0, upstreamWritable: false))
        #expect(m.close() == .close)
        #expect(m.close() == .none)
    }
}
