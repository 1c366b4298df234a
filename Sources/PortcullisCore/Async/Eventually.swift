public import NIOCore

/// A value that is ready now or arrives later on an event loop. Most admission work answers at
/// once (a cached token, an address rule), so the common path allocates no future; only work that
/// waits (a key-set fetch, an external authorizer) pays for one. Every sync-or-async continuation
/// goes through `map`/`flatMap` here instead of being written out by hand.
public enum Eventually<Value: Sendable>: Sendable {
    case now(Value)
    case later(EventLoopFuture<Value>)

    /// Transforms the value, at once or when it arrives (on the future's loop).
    @inlinable
    public func map<T: Sendable>(_ transform: @escaping @Sendable (Value) -> T) -> Eventually<T> {
        switch self {
        case .now(let v): return .now(transform(v))
        case .later(let f): return .later(f.map(transform))
        }
    }

    /// Chains a step that may itself answer now or later.
    @inlinable
    public func flatMap<T: Sendable>(_ next: @escaping @Sendable (Value) -> Eventually<T>) -> Eventually<T> {
        switch self {
        case .now(let v): return next(v)
        case .later(let f):
            return .later(f.flatMap { v in
                switch next(v) {
                case .now(let t): return f.eventLoop.makeSucceededFuture(t)
                case .later(let g): return g
                }
            })
        }
    }

    /// The value as a future on `loop` (tests, and callers that must wait anyway).
    public func future(on loop: any EventLoop) -> EventLoopFuture<Value> {
        switch self {
        case .now(let v): return loop.makeSucceededFuture(v)
        case .later(let f): return f
        }
    }
}
