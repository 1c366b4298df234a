public import NIOCore

/// What one admission phase decided about a request.
public enum PhaseOutcome: Sendable {
    /// Admitted by this phase. A non-nil identity replaces the request's identity (later phases
    /// refine earlier ones); a non-nil undo runs if a later phase refuses or the request is
    /// abandoned before admission ends (a throttle token or a quota unit given back).
    case pass(Identity?, undo: AdmissionUndo?)
    case refuse(Refusal)

    /// Admitted, nothing learned, nothing to give back.
    public static let pass = PhaseOutcome.pass(nil, undo: nil)
}

/// Work that gives back what a phase took. A closure, since what is given back (which bucket,
/// which counter) is known only to the phase; it is made only by phases that take something.
public struct AdmissionUndo: Sendable {
    public let run: @Sendable () -> Void
    public init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// One admission phase: a small type with one job (see docs/ARCHITECTURE.md, "Admission").
/// The proxy's phases are an enum, so a request runs a `switch`, not an existential call.
public protocol AdmissionPhase {
    associatedtype Request
    /// Decides now, or returns a future completed on `loop`, the request's event loop.
    func admit(_ request: Request, identity: Identity?, on loop: any EventLoop) -> Eventually<PhaseOutcome>
}

/// Runs a request's phases in order, in one place for phases that answer now and phases that
/// answer later. A value owned by one request on one event loop: the connection keeps it while
/// a phase waits and calls `resume` with the phase's answer. Refusal at any phase runs the undos
/// of the phases before it, last first.
///
/// Inlinable, so the proxy gets a copy specialized for its phase enum: run unspecialized across
/// the module boundary, every step went through value witnesses and generic metadata.
public struct Admission<Phase: AdmissionPhase> {
    public enum Step {
        /// Every phase passed: the identity established, if any.
        case admitted(Identity?)
        /// A phase refused; the undos of earlier phases have run.
        case refused(Refusal)
        /// A phase answers later. When the future completes, call `resume` (on the same loop),
        /// unless the request has ended meanwhile: then call `abandon`.
        case waiting(EventLoopFuture<PhaseOutcome>)
    }

    public let phases: [Phase]
    /// The phase running or about to run.
    public var index: Int { next }
    /// The identity the passed phases established, if any.
    public var identity: Identity? { established }
    @usableFromInline var next = 0
    /// The phase whose outcome was applied last: after a refusal, the phase that refused.
    public var decided: Int { lastDecided }
    @usableFromInline var lastDecided = -1
    @usableFromInline var established: Identity?
    /// What passed phases took, to give back if a later one refuses. Two fit without an array
    /// (throttle and quota, the phases that take something); more spill into `moreUndos`.
    @usableFromInline var firstUndo: AdmissionUndo?
    @usableFromInline var secondUndo: AdmissionUndo?
    @usableFromInline var moreUndos: [AdmissionUndo] = []

    @inlinable
    public init(_ phases: [Phase], identity: Identity? = nil) {
        self.phases = phases
        established = identity
    }

    @inlinable
    public var isFinished: Bool { next >= phases.count }

    /// Runs phases from the current one until one refuses, one must wait, or all passed.
    @inlinable
    public mutating func run(_ request: Phase.Request, on loop: any EventLoop) -> Step {
        while next < phases.count {
            switch phases[next].admit(request, identity: established, on: loop) {
            case .now(let outcome):
                if let refused = apply(outcome) { return refused }
            case .later(let future):
                return .waiting(future)
            }
        }
        // Admitted: what the phases took is spent, never given back.
        firstUndo = nil
        secondUndo = nil
        moreUndos = []
        return .admitted(established)
    }

    /// The waiting phase answered: apply its outcome and go on with the next phases.
    @inlinable
    public mutating func resume(_ outcome: PhaseOutcome, _ request: Phase.Request, on loop: any EventLoop) -> Step {
        precondition(next < phases.count, "resume without a waiting phase")
        if let refused = apply(outcome) { return refused }
        return run(request, on: loop)
    }

    /// The request ended before admission did (the client left, a timeout answered): gives
    /// back what passed phases took. Safe to call more than once.
    @inlinable
    public mutating func abandon() {
        next = phases.count
        undoAll()
    }

    @inlinable
    mutating func apply(_ outcome: PhaseOutcome) -> Step? {
        lastDecided = next
        next += 1
        switch outcome {
        case .pass(let id, let undo):
            if let id { established = id }
            if let undo {
                if firstUndo == nil { firstUndo = undo } else if secondUndo == nil { secondUndo = undo } else { moreUndos.append(undo) }
            }
            return nil
        case .refuse(let r):
            next = phases.count
            undoAll()
            return .refused(r)
        }
    }

    @inlinable
    mutating func undoAll() {
        while let u = moreUndos.popLast() { u.run() }
        if let u = secondUndo { secondUndo = nil; u.run() }
        if let u = firstUndo { firstUndo = nil; u.run() }
    }
}
