import NIOCore
import NIOEmbedded
import Testing

@testable import PortcullisCore

/// The admission driver as tables: every order of phases, a refusal at each phase with the undo
/// of the phases before it, phases that answer later, and requests abandoned while one waits.
@Suite struct AdmissionTests {
    /// What the phases did, in order: "run a", "undo a".
    final class Journal: @unchecked Sendable {  // used on one test thread only
        var lines: [String] = []
    }

    struct Phase: AdmissionPhase {
        enum Kind { case pass, passWithUndo, identify, refuse, later }
        let name: String
        let kind: Kind
        let journal: Journal
        /// For `later`: the promise the test completes.
        let promise: EventLoopPromise<PhaseOutcome>?

        func admit(_ request: Void, identity: Identity?, on loop: any EventLoop) -> Eventually<PhaseOutcome> {
            journal.lines.append("run \(name)")
            let journal = self.journal
            let name = self.name
            switch kind {
            case .pass: return .now(.pass)
            case .passWithUndo: return .now(.pass(nil, undo: AdmissionUndo { journal.lines.append("undo \(name)") }))
            case .identify: return .now(.pass(Identity(principal: name, authorizer: name), undo: nil))
            case .refuse: return .now(.refuse(Refusal(.THROTTLED, reason: name)))
            case .later: return .later(promise!.futureResult)
            }
        }
    }

    let loop = EmbeddedEventLoop()

    func phases(_ kinds: [Phase.Kind], _ journal: Journal) -> [Phase] {
        kinds.enumerated().map { i, k in
            Phase(name: "p\(i)", kind: k, journal: journal, promise: k == .later ? loop.makePromise() : nil)
        }
    }

    static func permutations<T>(_ xs: [T]) -> [[T]] {
        guard xs.count > 1 else { return [xs] }
        return xs.indices.flatMap { i -> [[T]] in
            var rest = xs
            let x = rest.remove(at: i)
            return permutations(rest).map { [x] + $0 }
        }
    }

    @Test func everyOrderOfPassingPhasesRunsInListOrderAndUndoesNothing() {
        for order in Self.permutations([Phase.Kind.pass, .passWithUndo, .identify, .passWithUndo]) {
            let journal = Journal()
            var admission = Admission(phases(order, journal))
            guard case .admitted(let identity) = admission.run((), on: loop) else {
                Issue.record("\(order) not admitted")
                continue
            }
            #expect(journal.lines == ["run p0", "run p1", "run p2", "run p3"], "\(order)")
            #expect(identity?.principal == "p\(order.firstIndex(of: .identify)!)")
            // Admitted means committed: a later abandon gives nothing back.
            admission.abandon()
            #expect(journal.lines.count == 4)
        }
    }

    @Test func refusalAtEachPhaseUndoesTheEarlierOnesLastFirst() {
        for k in 0..<5 {
            let journal = Journal()
            var kinds = Array(repeating: Phase.Kind.passWithUndo, count: 5)
            kinds[k] = .refuse
            var admission = Admission(phases(kinds, journal))
            guard case .refused(let r) = admission.run((), on: loop) else {
                Issue.record("phase \(k) did not refuse")
                continue
            }
            #expect(r.reason == "p\(k)")
            let ran = (0...k).map { "run p\($0)" }
            let undone = (0..<k).reversed().map { "undo p\($0)" }
            #expect(journal.lines == ran + undone, "refusal at \(k)")
            admission.abandon()
            #expect(journal.lines == ran + undone, "no second undo at \(k)")
        }
    }

    @Test func aLaterPhaseResumesWhereItStopped() throws {
        for outcome in [PhaseOutcome.pass, .refuse(Refusal(.UNAUTHORIZED, reason: "late"))] {
            let journal = Journal()
            let list = phases([.passWithUndo, .later, .passWithUndo], journal)
            var admission = Admission(list)
            guard case .waiting(let future) = admission.run((), on: loop) else {
                Issue.record("expected to wait")
                continue
            }
            #expect(journal.lines == ["run p0", "run p1"])
            list[1].promise!.succeed(outcome)
            let step = admission.resume(try future.wait(), (), on: loop)
            switch (outcome, step) {
            case (.pass, .admitted):
                #expect(journal.lines == ["run p0", "run p1", "run p2"])
            case (.refuse, .refused(let r)):
                #expect(r.reason == "late")
                #expect(journal.lines == ["run p0", "run p1", "undo p0"])
            default:
                Issue.record("unexpected \(step) for \(outcome)")
            }
        }
    }

    @Test func abandonWhileWaitingGivesBackWhatPassed() {
        let journal = Journal()
        let list = phases([.passWithUndo, .pass, .passWithUndo, .later, .passWithUndo], journal)
        var admission = Admission(list)
        guard case .waiting = admission.run((), on: loop) else {
            Issue.record("expected to wait")
            return
        }
        admission.abandon()
        #expect(journal.lines == ["run p0", "run p1", "run p2", "run p3", "undo p2", "undo p0"])
        #expect(admission.isFinished)
        admission.abandon()
        #expect(journal.lines.count == 6)
        list[3].promise!.succeed(.pass)
    }

    @Test func laterIdentityReplacesEarlierOne() {
        let journal = Journal()
        var admission = Admission(phases([.identify, .pass, .identify], journal))
        guard case .admitted(let id) = admission.run((), on: loop) else {
            Issue.record("expected admission")
            return
        }
        #expect(id?.principal == "p2")
    }

    @Test func eventuallyChainsNowAndLater() throws {
        #expect(try Eventually.now(2).map { $0 * 3 }.future(on: loop).wait() == 6)
        let p = loop.makePromise(of: Int.self)
        let chained = Eventually.later(p.futureResult).flatMap { v in Eventually.now(v + 1) }
        p.succeed(41)
        #expect(try chained.future(on: loop).wait() == 42)
    }
}

