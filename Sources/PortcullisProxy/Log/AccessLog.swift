import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PortcullisCore

/// One access-log record: the JSON line is rendered on the loop into a per-loop buffer and
/// written by the sink's own thread, so requests never wait for the disk.
struct AccessLogEntry {
    var requestID: RequestID
    var client: String
    var method: String
    var path: String
    var route: String
    var api: String
    var status: Int
    var bytes: Int
    var totalMicros: Int64
    var upstreamMicros: Int64
    var principal: String?
    var error: String?
    /// An external authorizer's context (`$context.authorizer.KEY`), logged as an object.
    var authorizerContext: [String: String]? = nil
}

/// Per-loop batch of rendered lines; flushed to the sink by the loop's sweeper or when large.
struct AccessLogBuffer {
    let sink: AccessLogSink?
    private var pending = ByteBuffer()

    init(sink: AccessLogSink?) { self.sink = sink }

    mutating func append(_ e: AccessLogEntry) {
        guard sink != nil else { return }
        pending.writeStaticString("{\"time\":")
        pending.writeString(String(Self.epochMillis()))
        pending.writeStaticString(",\"request_id\":\"")
        e.requestID.write(into: &pending)
        pending.writeString("\",\"client_ip\":\(JSONString.quoted(e.client)),\"method\":\(JSONString.quoted(e.method))")
        pending.writeString(",\"path\":\(JSONString.quoted(e.path)),\"api\":\(JSONString.quoted(e.api)),\"route\":\(JSONString.quoted(e.route))")
        pending.writeString(",\"status\":\(e.status),\"bytes\":\(e.bytes),\"total_ms\":\(Self.millis(e.totalMicros))")
        pending.writeString(",\"upstream_ms\":\(e.upstreamMicros < 0 ? "null" : Self.millis(e.upstreamMicros))")
        pending.writeString(",\"principal\":\(JSONString.quoted(e.principal)),\"error\":\(JSONString.quoted(e.error))")
        if let context = e.authorizerContext, !context.isEmpty {
            var object = ",\"authorizer\":{"
            for (i, (k, v)) in context.sorted(by: { $0.key < $1.key }).enumerated() {
                object += (i > 0 ? "," : "") + JSONString.quoted(k) + ":" + JSONString.quoted(v)
            }
            pending.writeString(object + "}")
        }
        pending.writeStaticString("}\n")
        if pending.readableBytes > 64 * 1024 { flush() }
    }

    mutating func flush() {
        guard let sink, pending.readableBytes > 0 else { return }
        sink.submit(pending)
        pending = ByteBuffer()
    }

    static func millis(_ micros: Int64) -> String {
        let whole = micros / 1000
        let frac = micros % 1000
        let f = String(frac)
        return "\(whole)." + String(repeating: "0", count: 3 - f.count) + f
    }

    static func epochMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// Writes batches to stdout or a file on a dedicated thread. Loops hand over whole batches
/// (a few per second), so the lock here is not on the per-request path.
final class AccessLogSink: Sendable {
    private let fd: Int32
    private let ownsFD: Bool
    private let queue = DispatchQueue(label: "portcullis.access-log")

    init(path: String?) throws {
        if let path {
            let f = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard f >= 0 else { throw AccessLogError(path: path, errno: errno) }
            fd = f
            ownsFD = true
        } else {
            fd = 1
            ownsFD = false
        }
    }

    func submit(_ batch: ByteBuffer) {
        let fd = self.fd
        queue.async {
            batch.withUnsafeReadableBytes { p in
                var off = 0
                while off < p.count {
                    let n = Foundation.write(fd, p.baseAddress! + off, p.count - off)
                    if n <= 0 { break }
                    off += n
                }
            }
        }
    }

    /// Waits until everything submitted so far is written.
    func drain() { queue.sync {} }

    deinit {
        if ownsFD { close(fd) }
    }
}

struct AccessLogError: Error, CustomStringConvertible {
    let path: String
    let errno: Int32
    var description: String { "cannot open access log \(path): \(String(cString: strerror(errno)))" }
}
