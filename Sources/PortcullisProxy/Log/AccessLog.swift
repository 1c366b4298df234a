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
    /// The precise reason of a refusal or failure (`error.reason`).
    var reason: String? = nil
    /// The reason when an `auth:` entry refused (`authorizer.error`).
    var authorizerError: String? = nil
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

    mutating func append(_ e: AccessLogEntry) {
        guard sink != nil else { return }
        let now = Self.epochMillis()
        if now / 1000 != second {
            second = now / 1000
            secondText = Array(Self.commonLogTime(second).utf8)
        }
        // The line is written with plain stores into space reserved once: at most the fixed text
        // plus six bytes per byte of each value (the longest escape, \u00XX).
        var variable = e.sourceIP.utf8.count + (e.resourcePath?.utf8.count ?? 0) + (e.apiID?.utf8.count ?? 0)
            + (e.stage?.utf8.count ?? 0) + (e.principal?.utf8.count ?? 0) + (e.apiKeyID?.utf8.count ?? 0) + (e.reason?.utf8.count ?? 0)
            + (e.authorizerError?.utf8.count ?? 0)
        // The method is shorter than the target's offset in the head.
        if let h = e.head { variable += Int(h.pathLength) + Int(h.targetStart) }
        if let context = e.authorizerContext { for (k, v) in context { variable += k.utf8.count + v.utf8.count + 3 } }
        // The fixed text with every value at its longest (20-digit numbers, the longest response
        // type, every optional null) is about 620 bytes; 1 KiB leaves room for fields added later.
        let bound = 1024 + 6 * variable
        if pending.capacity == 0 { pending.reserveCapacity(Self.batchBytes + 4096) }
        pending.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { out in
            var w = LineWriter(out.baseAddress!)
            w.put("{\"requestId\":\"")
            w.requestID(e.requestID)
            w.put("\",\"requestTime\":\"")
            secondText.withUnsafeBytes { w.put($0) }
            w.put("\",\"requestTimeEpoch\":")
            w.decimal(now)
            w.put(",\"apiId\":")
            w.quoted(e.apiID)
            w.put(",\"stage\":")
            w.quoted(e.stage)
            w.put(",\"httpMethod\":")
            if let h = e.head { w.quoted(h.method.name) } else { w.put("null") }
            w.put(",\"path\":")
            if let h = e.head {
                h.headers.raw.withUnsafeReadableBytes { p in
                    w.quoted(UnsafeRawBufferPointer(rebasing: p[Int(h.targetStart)..<Int(h.targetStart + h.pathLength)]))
                }
            } else {
                w.put("null")
            }
            w.put(",\"resourcePath\":")
            w.quoted(e.resourcePath)
            switch e.head?.version {
            case .http10?: w.put(",\"protocol\":\"HTTP/1.0\"")
            case .http11?: w.put(",\"protocol\":\"HTTP/1.1\"")
            case nil: w.put(",\"protocol\":null")
            }
            w.put(",\"status\":")
            w.decimal(Int64(e.status))
            w.put(",\"responseLength\":")
            w.decimal(Int64(e.responseLength))
            w.put(",\"responseLatency\":")
            w.millis(e.responseMicros)
            w.put(",\"integrationLatency\":")
            if e.integrationMicros < 0 { w.put("null") } else { w.millis(e.integrationMicros) }
            w.put(",\"identity\":{\"sourceIp\":")
            w.quoted(e.sourceIP)
            w.put(",\"apiKeyId\":")
            w.quoted(e.apiKeyID)
            w.put("},\"authorizer\":{\"principalId\":")
            w.quoted(e.principal)
            w.put(",\"error\":")
            w.quoted(e.authorizerError)
            if let context = e.authorizerContext, !context.isEmpty {
                for (k, v) in context.sorted(by: { $0.key < $1.key }) where k != "principalId" && k != "error" {
                    w.put(",")
                    w.quoted(k)
                    w.put(":")
                    w.quoted(v)
                }
            }
            w.put("}")
            if e.responseType != nil || e.reason != nil {
                w.put(",\"error\":{\"responseType\":")
                if let t = e.responseType { w.quoted(t.rawValue) } else { w.put("null") }
                w.put(",\"reason\":")
                w.quoted(e.reason)
                w.put("}")
            }
            w.put("}\n")
            precondition(w.count <= bound, "access-log line longer than its bound")
            return w.count
        }
        if pending.readableBytes > Self.batchBytes { flush() }
    }

    /// A batch goes to the writer thread once it holds this much.
    static let batchBytes = 256 * 1024

    /// `requestTime` as API Gateway writes it (CLF, UTC): `30/Nov/2026:18:30:05 +0000`.
    static func commonLogTime(_ epochSecond: Int64) -> String { CivilTime.commonLogTime(epochSecond) }

    mutating func flush() {
        guard let sink, pending.readableBytes > 0 else { return }
        sink.submit(pending)
        // The next batch gets its own space, reserved at the first line (an idle loop keeps none).
        pending = ByteBuffer()
    }

    /// What `body` writes, as a String (tests).
    static func rendered(bound: Int = 4096, _ body: (inout LineWriter) -> Void) -> String {
        var b = ByteBuffer()
        b.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { out in
            var w = LineWriter(out.baseAddress!)
            body(&w)
            return w.count
        }
        return String(buffer: b)
    }

    static func epochMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// Writes one access-log line with plain stores into space its caller reserved (the caller
/// bounds the line's length): no capacity checks or exclusivity checks per field, as
/// `ByteBuffer`'s own writes would make.
struct LineWriter {
    let base: UnsafeMutableRawPointer
    private(set) var count = 0

    init(_ base: UnsafeMutableRawPointer) { self.base = base }

    mutating func put(_ s: StaticString) {
        (base + count).copyMemory(from: s.utf8Start, byteCount: s.utf8CodeUnitCount)
        count += s.utf8CodeUnitCount
    }

    mutating func put(_ bytes: UnsafeRawBufferPointer) {
        guard let from = bytes.baseAddress, bytes.count > 0 else { return }
        (base + count).copyMemory(from: from, byteCount: bytes.count)
        count += bytes.count
    }

    mutating func byte(_ b: UInt8) {
        base.storeBytes(of: b, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// A JSON string (or `null`), escaped as `JSONString.quoted` does.
    mutating func quoted(_ s: String?) {
        guard let s else { return put("null") }
        if let done = s.utf8.withContiguousStorageIfAvailable({ quoted(UnsafeRawBufferPointer($0)) }) { return done }
        var copy = s
        copy.withUTF8 { quoted(UnsafeRawBufferPointer($0)) }
    }

    /// Bytes as a JSON string: ASCII escaped in place; anything else through a String, which
    /// repairs bytes that are not UTF-8 (a raw request path may hold any byte).
    mutating func quoted(_ bytes: UnsafeRawBufferPointer) {
        if bytes.contains(where: { $0 >= 0x80 }) {
            var text = JSONString.quoted(String(decoding: bytes, as: UTF8.self))
            return text.withUTF8 { put(UnsafeRawBufferPointer($0)) }
        }
        byte(0x22)
        var start = 0
        for i in 0..<bytes.count {
            let b = bytes[i]
            guard b < 0x20 || b == 0x22 || b == 0x5C else { continue }
            put(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
            switch b {
            case 0x22: put("\\\"")
            case 0x5C: put("\\\\")
            case 0x0A: put("\\n")
            case 0x0D: put("\\r")
            case 0x09: put("\\t")
            default:
                put("\\u00")
                byte(Self.hex(b >> 4))
                byte(Self.hex(b & 0xF))
            }
            start = i + 1
        }
        put(UnsafeRawBufferPointer(rebasing: bytes[start...]))
        byte(0x22)
    }

    static func hex(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x57 + v }

    mutating func decimal(_ v: Int64) {
        if v < 0 { byte(0x2D) }
        var m = v.magnitude
        var digits = 1
        var scale: UInt64 = 10
        while digits < 20 && m >= scale {
            digits += 1
            if scale > UInt64.max / 10 { break }
            scale *= 10
        }
        var at = count + digits
        count = at
        repeat {
            at -= 1
            base.storeBytes(of: UInt8(truncatingIfNeeded: m % 10) + 0x30, toByteOffset: at, as: UInt8.self)
            m /= 10
        } while m > 0
    }

    /// Microseconds as milliseconds with three decimals.
    mutating func millis(_ micros: Int64) {
        decimal(micros / 1000)
        let frac = Int((micros % 1000).magnitude)
        byte(0x2E)
        byte(UInt8(0x30 + frac / 100))
        byte(UInt8(0x30 + frac / 10 % 10))
        byte(UInt8(0x30 + frac % 10))
    }

    mutating func requestID(_ id: RequestID) {
        count += id.write(to: base + count)
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
