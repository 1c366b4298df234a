public import NIOCore

/// Finds where a chunked body ends, byte by byte across reads, without copying it.
/// The proxy forwards chunked bodies as they are (framing included); this only tracks the framing,
/// counts payload bytes for size limits and can report payload spans for de-chunking.
public struct ChunkedDecoder: Sendable {
    public enum State: Equatable, Sendable {
        case size, sizeSpace, extensions, sizeLF, data, dataCR, dataLF, trailerStart, trailerLine, trailerLF, finalLF, done
    }

    public enum Failure: Error, Equatable, Sendable {
        case malformed
        case trailerTooLarge
    }

    public private(set) var state: State = .size
    public private(set) var payloadBytes: Int64 = 0
    private var remaining: Int64 = 0
    private var digits = 0
    private var trailerBytes = 0
    private let maxTrailerBytes: Int

    public init(maxTrailerBytes: Int = 16 * 1024) {
        self.maxTrailerBytes = maxTrailerBytes
    }

    public var isDone: Bool { state == .done }

    /// Walks `buffer`'s readable bytes; returns how many belong to this message.
    /// `onPayload(offset, length)` receives payload spans relative to the reader index.
    public mutating func consume(
        _ buffer: ByteBuffer, onPayload: (Int, Int) -> Void = { _, _ in }
    ) throws(Failure) -> Int {
        try buffer.withUnsafeReadableBytes { (p) throws(Failure) -> Int in
            let n = p.count
            var i = 0
            while i < n && state != .done {
                let c = p[i]
                switch state {
                case .size:
                    if let d = Hex.value(c) {
                        guard digits < 15 else { throw .malformed }
                        remaining = remaining << 4 | Int64(d)
                        digits += 1
                    } else if digits > 0 && c == 59 {
                        state = .extensions
                    } else if digits > 0 && (c == 32 || c == 9) {
                        state = .sizeSpace
                    } else if digits > 0 && c == 13 {
                        state = .sizeLF
                    } else {
                        throw .malformed
                    }
                    i += 1
                case .sizeSpace:
                    // Only whitespace, then `;` or the line end, may follow a size: "3 4" is not a size.
                    if c == 59 { state = .extensions } else if c == 13 { state = .sizeLF } else if c != 32 && c != 9 { throw .malformed }
                    i += 1
                case .extensions:
                    if c == 13 { state = .sizeLF } else if c == 10 || (c < 32 && c != 9) { throw .malformed }
                    i += 1
                case .sizeLF:
                    guard c == 10 else { throw .malformed }
                    digits = 0
                    state = remaining == 0 ? .trailerStart : .data
                    i += 1
                case .data:
                    let take = Int(min(remaining, Int64(n - i)))
                    onPayload(i, take)
                    payloadBytes += Int64(take)
                    remaining -= Int64(take)
                    i += take
                    if remaining == 0 { state = .dataCR }
                case .dataCR:
                    guard c == 13 else { throw .malformed }
                    state = .dataLF
                    i += 1
                case .dataLF:
                    guard c == 10 else { throw .malformed }
                    state = .size
                    i += 1
                case .trailerStart:
                    if c == 13 {
                        state = .finalLF
                    } else if c == 127 || (c < 32 && c != 9) {
                        throw .malformed
                    } else {
                        state = .trailerLine
                        trailerBytes += 1
                    }
                    i += 1
                case .trailerLine:
                    trailerBytes += 1
                    guard trailerBytes <= maxTrailerBytes else { throw .trailerTooLarge }
                    // Trailer lines follow header rules: CRLF only, no control bytes but HTAB.
                    if c == 13 {
                        state = .trailerLF
                    } else if c == 127 || (c < 32 && c != 9) {
                        throw .malformed
                    }
                    i += 1
                case .trailerLF:
                    guard c == 10 else { throw .malformed }
                    state = .trailerStart
                    i += 1
                case .finalLF:
                    guard c == 10 else { throw .malformed }
                    state = .done
                    i += 1
                case .done:
                    break
                }
            }
            return i
        }
    }
}
