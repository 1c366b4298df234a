import NIOCore
@testable import PortcullisTLS
import Testing

/// The handler's decisions, event by event, without OpenSSL or channels.
@Suite("TLS connection state machine")
struct TLSConnectionStateMachineTests {
    typealias Machine = TLSConnectionStateMachine

    static let failure = TLSError.handshakeFailed(OpenSSLError(operation: "test", errors: ["boom"]))

    func handshaking() -> Machine {
        var machine = Machine()
        _ = machine.channelActive()
        return machine
    }

    func active() -> Machine {
        var machine = self.handshaking()
        _ = machine.handshakeStepped(.complete)
        return machine
    }

    func closing() -> Machine {
        var machine = self.active()
        _ = machine.close(mode: .all)
        return machine
    }

    func closed() -> Machine {
        var machine = self.active()
        _ = machine.channelInactive()
        return machine
    }

    @Test func handshakeTransitions() {
        var machine = Machine()
        #expect(machine.state == .idle)
        #expect(machine.channelActive() == .startHandshake)
        #expect(machine.state == .handshaking)
        #expect(machine.channelActive() == .none)  // handlerAdded and channelActive both fire
        #expect(machine.bytesReceived() == .advanceHandshake)
        #expect(machine.handshakeStepped(.needsInput) == .awaitPeer)
        #expect(machine.handshakeStepped(.complete) == .completed)
        #expect(machine.state == .active)
        #expect(machine.bytesReceived() == .decrypt)
        #expect(machine.handshakeStepped(.complete) == .none)

        var failing = self.handshaking()
        #expect(failing.handshakeStepped(.failed(Self.failure)) == .fail(Self.failure))
        #expect(failing.state == .closed)
        #expect(failing.bytesReceived() == .discard)
    }

    @Test func writesAndFlushesBeforeAndAfterTheHandshake() {
        var machine = self.handshaking()
        #expect(machine.write() == .buffer)
        #expect(machine.flush() == .deferUntilHandshake)
        #expect(machine.takeDeferredFlush() == false)  // not active yet
        _ = machine.handshakeStepped(.complete)
        #expect(machine.takeDeferredFlush() == true)
        #expect(machine.takeDeferredFlush() == false)  // only once
        #expect(machine.write() == .buffer)
        #expect(machine.flush() == .encrypt)

        var noFlush = self.handshaking()
        _ = noFlush.write()
        _ = noFlush.handshakeStepped(.complete)
        #expect(noFlush.takeDeferredFlush() == false)  // written but never flushed: stays buffered

        var closing = self.closing()
        #expect(closing.write() == .failWriteAfterClose)
        #expect(closing.flush() == .none)
        var closed = self.closed()
        #expect(closed.write() == .failChannelClosed)
    }

    /// (starting state, close mode, expected action, state after)
    @Test(arguments: [
        ("idle", CloseMode.all, Machine.CloseAction.closeChannel, TLSConnectionState.closed),
        ("handshaking", .all, .closeChannel, .closed),
        ("active", .all, .sendCloseNotify, .closing),
        ("active", .output, .sendCloseNotify, .closing),
        ("active", .input, .forwardInputClose, .active),
        ("closing", .all, .joinPendingClose, .closing),
        ("closed", .all, .forwardClose, .closed),
    ])
    func closeTable(start: String, mode: CloseMode, action: Machine.CloseAction, after: TLSConnectionState) {
        var machine = self.machine(start)
        #expect(machine.close(mode: mode) == action)
        #expect(machine.state == after)
    }

    @Test func closeNotifyExchange() {
        var initiator = self.active()
        #expect(initiator.close(mode: .all) == .sendCloseNotify)
        #expect(initiator.closeNotifyQueued(.sent, halfClose: false) == .awaitPeerCloseNotify)
        #expect(initiator.bytesReceived() == .decrypt)  // still reading, for the peer's close_notify
        #expect(initiator.closeNotifyReceived() == .completeClose)
        #expect(initiator.state == .closed)

        var halfCloser = self.active()
        _ = halfCloser.close(mode: .output)
        #expect(halfCloser.closeNotifyQueued(.sent, halfClose: true) == .halfClose)
        #expect(halfCloser.state == .closing)

        var responder = self.active()
        #expect(responder.closeNotifyReceived() == .answerAndClose)
        #expect(responder.state == .closed)

        var lateAnswer = self.active()
        _ = lateAnswer.close(mode: .all)
        #expect(lateAnswer.closeNotifyQueued(.bothSent, halfClose: false) == .closeAfterOutput)
        var broken = self.active()
        _ = broken.close(mode: .all)
        #expect(broken.closeNotifyQueued(.failed, halfClose: false) == .closeNow)
        #expect(broken.state == .closed)
    }

    @Test func shutdownTimeout() {
        var machine = self.closing()
        #expect(machine.shutdownTimedOut() == true)
        #expect(machine.state == .closed)
        #expect(machine.shutdownTimedOut() == false)  // a late timer after the close is a no-op
    }

    @Test(arguments: [
        ("idle", Machine.InactiveAction.none),
        ("handshaking", .reportHandshakeAborted),
        ("active", .reportUncleanShutdown),
        ("closing", .succeedPendingClose),
        ("closed", .none),
    ])
    func inactiveTable(start: String, action: Machine.InactiveAction) {
        var machine = self.machine(start)
        #expect(machine.channelInactive() == action)
        #expect(machine.state == .closed)
    }

    @Test func failuresAfterTheHandshake() {
        var machine = self.active()
        #expect(machine.failed() == .failAndClose)
        #expect(machine.failed() == .none)  // reported once
        #expect(machine.closeNotifyReceived() == .none)
    }

    private func machine(_ name: String) -> Machine {
        switch name {
        case "idle": return Machine()
        case "handshaking": return self.handshaking()
        case "active": return self.active()
        case "closing": return self.closing()
        default: return self.closed()
        }
    }
}
