import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PortcullisCore

/// One access-log record, its fields named after API Gateway's `$context` variables (README,
/// "Access log"). The JSON line is rendered on the loop into a per-loop buffer and written by
/// the sink's own thread, so requests never wait for the disk. The fields are the request's own
/// values (the head with its bytes, the route's Strings made at load): rendering writes them
/// straight into the buffer, with no String made per request.
struct AccessLogEntry {
    var requestID: RequestID
    /// `identity.sourceIp`: the client (the nearest untrusted X-Forwarded-For hop behind a trusted proxy).
    var sourceIP: String
    var head: HTTPRequestHead?
    /// `resourcePath`: the matched route's template; nil when nothing matched.
    var resourcePath: String?
    var apiID: String?
    var stage: String?
    var status: Int
    var responseLength: Int
    var responseMicros: Int64
    /// -1: the request never reached an upstream.
    var integrationMicros: Int64
    var principal: String?
    var apiKeyID: String? = nil
    /// The gateway response type of a refusal (`error.responseType`).
    var responseType: GatewayResponseType? = nil
    /// The precise reason of a refusal or failure (`error.reason`, and `authorizer.error` when an
    /// authorizer refused).
    var reason: String? = nil
    /// An external authorizer's context (`$context.authorizer.KEY`), logged beside principalId.
    var authorizerContext: [String: String]? = nil
}

/// Per-loop batch of rendered lines; flushed to the sink by the loop's sweeper or when large.
struct AccessLogBuffer {
    let sink: AccessLogSink?
    private var pending = ByteBuffer()
    /// `requestTime` of the current second, rendered once per second.
    private var second: Int64 = -1
    private var secondText: [UInt8] = []
    /// Draws for sampling; each loop has its own sequence.
    private var draw: FastRandom

    init(sink: AccessLogSink?, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) {
        self.sink = sink
        draw = FastRandom(seed: seed)
    }

    /// A sample rate as a draw threshold: `UInt64.max` logs every request.
    static func threshold(sample: Double) -> UInt64 {
        if sample >= 1 { return .max }
        if sample <= 0 { return 0 }
        return UInt64(sample * 18_446_744_073_709_551_616.0)
    }

    /// Whether a request answered below 400 on a route with this threshold gets its line.
    mutating func sampled(_ threshold: UInt64) -> Bool {
        if threshold == .max { return true }
        return draw.next() < threshold
    }

    /// Types whose reason is an authorizer's (`$context.authorizer.error`).
    static func isAuthorizerRefusal(_ t: GatewayResponseType?) -> Bool {
        switch t {
        case .UNAUTHORIZED?, .AUTHORIZER_FAILURE?, .AUTHORIZER_CONFIGURATION_ERROR?, .INVALID_SIGNATURE?, .EXPIRED_TOKEN?: return true
        default: return false
        }
    }

    mutating func append(_ e: AccessLogEntry) {
        guard sink != nil else { return }
        let now = Self.epochMillis()
        pending.writeStaticString("{\"requestId\":\"")
        e.requestID.write(into: &pending)
        pending.writeStaticString("\",\"requestTime\":\"")
        writeRequestTime(now / 1000)
        pending.writeStaticString("\",\"requestTimeEpoch\":")
        Self.writeDecimal(now, into: &pending)
        pending.writeStaticString(",\"apiId\":")
        Self.writeQuoted(e.apiID, into: &pending)
        pending.writeStaticString(",\"stage\":")
        Self.writeQuoted(e.stage, into: &pending)
        pending.writeStaticString(",\"httpMethod\":")
        if let h = e.head { Self.writeQuoted(h.method.name, into: &pending) } else { pending.writeStaticString("null") }
        pending.writeStaticString(",\"path\":")
        if let h = e.head {
            h.headers.raw.withUnsafeReadableBytes { p in
                Self.writeQuoted(UnsafeRawBufferPointer(rebasing: p[Int(h.targetStart)..<Int(h.targetStart + h.pathLength)]), into: &pending)
            }
        } else {
            pending.writeStaticString("null")
        }
        pending.writeStaticString(",\"resourcePath\":")
        Self.writeQuoted(e.resourcePath, into: &pending)
        switch e.head?.version {
        case .http10?: pending.writeStaticString(",\"protocol\":\"HTTP/1.0\"")
        case .http11?: pending.writeStaticString(",\"protocol\":\"HTTP/1.1\"")
        case nil: pending.writeStaticString(",\"protocol\":null")
        }
        pending.writeStaticString(",\"status\":")
        Self.writeDecimal(Int64(e.status), into: &pending)
        pending.writeStaticString(",\"responseLength\":")
        Self.writeDecimal(Int64(e.responseLength), into: &pending)
        pending.writeStaticString(",\"responseLatency\":")
        Self.writeMillis(e.responseMicros, into: &pending)
        pending.writeStaticString(",\"integrationLatency\":")
        if e.integrationMicros < 0 { pending.writeStaticString("null") } else { Self.writeMillis(e.integrationMicros, into: &pending) }
        pending.writeStaticString(",\"identity\":{\"sourceIp\":")
        Self.writeQuoted(e.sourceIP, into: &pending)
        pending.writeStaticString(",\"apiKeyId\":")
        Self.writeQuoted(e.apiKeyID, into: &pending)
        pending.writeStaticString("},\"authorizer\":{\"principalId\":")
        Self.writeQuoted(e.principal, into: &pending)
        pending.writeStaticString(",\"error\":")
        Self.writeQuoted(Self.isAuthorizerRefusal(e.responseType) ? e.reason : nil, into: &pending)
        if let context = e.authorizerContext, !context.isEmpty {
            for (k, v) in context.sorted(by: { $0.key < $1.key }) where k != "principalId" && k != "error" {
                pending.writeStaticString(",")
                Self.writeQuoted(k, into: &pending)
                pending.writeStaticString(":")
                Self.writeQuoted(v, into: &pending)
            }
        }
        pending.writeStaticString("}")
        if e.responseType != nil || e.reason != nil {
            pending.writeStaticString(",\"error\":{\"responseType\":")
            if let t = e.responseType { Self.writeQuoted(t.rawValue, into: &pending) } else { pending.writeStaticString("null") }
            pending.writeStaticString(",\"reason\":")
            Self.writeQuoted(e.reason, into: &pending)
            pending.writeStaticString("}")
        }
        pending.writeStaticString("}\n")
        if pending.readableBytes > 64 * 1024 { flush() }
    }

    /// `requestTime` as API Gateway writes it (CLF, UTC): `30/Nov/2026:18:30:05 +0000`.
    private mutating func writeRequestTime(_ epochSecond: Int64) {
        if epochSecond != second {
            second = epochSecond
            secondText = Array(Self.commonLogTime(epochSecond).utf8)
        }
        pending.writeBytes(secondText)
    }

    static func commonLogTime(_ epochSecond: Int64) -> String {
        var t = time_t(epochSecond)
        var parts = tm()
        gmtime_r(&t, &parts)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(two(parts.tm_mday))/\(months[Int(parts.tm_mon)])/\(parts.tm_year + 1900):\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
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
