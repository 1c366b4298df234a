import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PortcullisCore

/// One access-log record: the JSON line is rendered on the loop into a per-loop buffer and
/// written by the sink's own thread, so requests never wait for the disk. The fields are the
/// request's own values (the head with its bytes, the route's Strings made at load): rendering
/// writes them straight into the buffer, with no String made per request.
struct AccessLogEntry {
    var requestID: RequestID
    var client: String
    var head: HTTPRequestHead?
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
        Self.writeDecimal(Self.epochMillis(), into: &pending)
        pending.writeStaticString(",\"request_id\":\"")
        e.requestID.write(into: &pending)
        pending.writeStaticString("\",\"client_ip\":")
        Self.writeQuoted(e.client, into: &pending)
        pending.writeStaticString(",\"method\":")
        if let h = e.head { Self.writeQuoted(h.method.name, into: &pending) } else { pending.writeStaticString("\"-\"") }
        pending.writeStaticString(",\"path\":")
        if let h = e.head {
            h.headers.raw.withUnsafeReadableBytes { p in
                Self.writeQuoted(UnsafeRawBufferPointer(rebasing: p[Int(h.targetStart)..<Int(h.targetStart + h.pathLength)]), into: &pending)
            }
        } else {
            pending.writeStaticString("\"-\"")
        }
        pending.writeStaticString(",\"api\":")
        Self.writeQuoted(e.api, into: &pending)
        pending.writeStaticString(",\"route\":")
        Self.writeQuoted(e.route, into: &pending)
        pending.writeStaticString(",\"status\":")
        Self.writeDecimal(Int64(e.status), into: &pending)
        pending.writeStaticString(",\"bytes\":")
        Self.writeDecimal(Int64(e.bytes), into: &pending)
        pending.writeStaticString(",\"total_ms\":")
        Self.writeMillis(e.totalMicros, into: &pending)
        pending.writeStaticString(",\"upstream_ms\":")
        if e.upstreamMicros < 0 { pending.writeStaticString("null") } else { Self.writeMillis(e.upstreamMicros, into: &pending) }
        pending.writeStaticString(",\"principal\":")
        Self.writeQuoted(e.principal, into: &pending)
        pending.writeStaticString(",\"error\":")
        Self.writeQuoted(e.error, into: &pending)
        if let context = e.authorizerContext, !context.isEmpty {
            pending.writeStaticString(",\"authorizer\":{")
            for (i, (k, v)) in context.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { pending.writeStaticString(",") }
                Self.writeQuoted(k, into: &pending)
                pending.writeStaticString(":")
                Self.writeQuoted(v, into: &pending)
            }
            pending.writeStaticString("}")
        }
        pending.writeStaticString("}\n")
        if pending.readableBytes > 64 * 1024 { flush() }
    }

    mutating func flush() {
        guard let sink, pending.readableBytes > 0 else { return }
        sink.submit(pending)
        pending = ByteBuffer()
    }

    /// A JSON string (or `null`), escaped as `JSONString.quoted` does.
    static func writeQuoted(_ s: String?, into out: inout ByteBuffer) {
        guard var s else {
            out.writeStaticString("null")
            return
        }
        s.withUTF8 { writeQuoted(UnsafeRawBufferPointer($0), into: &out) }
    }

    /// Bytes as a JSON string: ASCII escaped in place; anything else through a String, which
    /// repairs bytes that are not UTF-8 (a raw request path may hold any byte).
    static func writeQuoted(_ bytes: UnsafeRawBufferPointer, into out: inout ByteBuffer) {
        if bytes.contains(where: { $0 >= 0x80 }) {
            out.writeString(JSONString.quoted(String(decoding: bytes, as: UTF8.self)))
            return
        }
        out.writeStaticString("\"")
        var start = 0
        for i in 0..<bytes.count {
            let b = bytes[i]
            guard b < 0x20 || b == 0x22 || b == 0x5C else { continue }
            out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
            switch b {
            case 0x22: out.writeStaticString("\\\"")
            case 0x5C: out.writeStaticString("\\\\")
            case 0x0A: out.writeStaticString("\\n")
            case 0x0D: out.writeStaticString("\\r")
            case 0x09: out.writeStaticString("\\t")
            default:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.writeStaticString("\\u00")
                out.writeInteger(hex[Int(b >> 4)])
                out.writeInteger(hex[Int(b & 0xF)])
            }
            start = i + 1
        }
        out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[start...]))
        out.writeStaticString("\"")
    }

    static func writeDecimal(_ v: Int64, into out: inout ByteBuffer) {
        if v < 0 { out.writeStaticString("-") }
        var m = v.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var n = 0
            repeat {
                digits[19 - n] = UInt8(truncatingIfNeeded: m % 10) + 0x30
                m /= 10
                n += 1
            } while m > 0
            out.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(digits)[(20 - n)...]))
        }
    }

    /// Microseconds as milliseconds with three decimals.
    static func writeMillis(_ micros: Int64, into out: inout ByteBuffer) {
        writeDecimal(micros / 1000, into: &out)
        let frac = Int(micros % 1000)
        out.writeInteger(UInt8(0x2E))
        out.writeInteger(UInt8(0x30 + frac / 100))
        out.writeInteger(UInt8(0x30 + frac / 10 % 10))
        out.writeInteger(UInt8(0x30 + frac % 10))
    }

    static func millis(_ micros: Int64) -> String {
        var b = ByteBuffer()
        writeMillis(micros, into: &b)
        return String(buffer: b)
    }

    static func epochMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// Writes batches to stdout or a file on a dedicated thread. Loops hand over whole batches
/// (a few per second), so the lock here is not on the per-request path.
///
/// `@unchecked Sendable`: `fd` is read and replaced only on `queue`, a serial queue, so writes
/// and a reopen never overlap.
final class AccessLogSink: @unchecked Sendable {
    private var fd: Int32
    private let path: String?
    private let queue = DispatchQueue(label: "portcullis.access-log")

    init(path: String?) throws {
        self.path = path
        if let path {
            fd = try Self.open(path)
        } else {
            fd = 1
        }
    }

    private static func open(_ path: String) throws -> Int32 {
        let f = Foundation.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard f >= 0 else { throw AccessLogError(path: path, errno: errno) }
        return f
    }

    func submit(_ batch: ByteBuffer) {
        queue.async { [self] in
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

    /// Opens the file again by its name, after what was submitted before is written: logrotate
    /// renames the file, then signals (SIGUSR1, as nginx); new lines go to a new file of that
    /// name. If it cannot be opened, lines keep going to the old one. No-op for stdout.
    func reopen(completion: @escaping @Sendable (AccessLogError?) -> Void = { _ in }) {
        guard let path else { return completion(nil) }
        queue.async { [self] in
            do {
                let new = try Self.open(path)
                close(fd)
                fd = new
                completion(nil)
            } catch let e as AccessLogError {
                completion(e)
            } catch {
                completion(nil)
            }
        }
    }

    /// Waits until everything submitted so far is written.
    func drain() { queue.sync {} }

    deinit {
        if path != nil { close(fd) }
    }
}

struct AccessLogError: Error, CustomStringConvertible {
    let path: String
    let errno: Int32
    var description: String { "cannot open access log \(path): \(String(cString: strerror(errno)))" }
}
