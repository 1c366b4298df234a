import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A deliberately independent HTTP/1.1 client for tests: blocking sockets and its own small
/// response parser, so the proxy's parser is never used to check the proxy.
struct RawResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    var bodyText: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
}

final class RawConnection {
    private(set) var fd: Int32
    private var buffer: [UInt8] = []
    private(set) var closedByPeer = false
    /// The first line last sent, named when an answer does not come in time.
    private var lastRequestLine = ""

    init(port: Int, timeoutSeconds: Int = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        // The instance is fully initialised here, so a throw still runs deinit, which closes
        // the socket: closing it here too would close whatever fd another thread opened since.
        guard rc == 0 else { throw RawError.connect(errno) }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Closes with a reset (SO_LINGER 0): the peer's next read fails at once, as when a client
    /// process dies, instead of seeing a half-close it might still answer.
    func reset() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close(fd)
        fd = -1
    }

    func send(_ s: String) { send(Array(s.utf8)) }

    func send(_ bytes: [UInt8]) {
        if let end = bytes.firstIndex(of: 13) ?? bytes.firstIndex(of: 10) {
            lastRequestLine = String(decoding: bytes[..<end], as: UTF8.self)
        }
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        if n <= 0 {
            // An orderly close or a reset both mean the peer is gone; a timeout does not.
            closedByPeer = n == 0 || errno == ECONNRESET
            return false
        }
        buffer += chunk[0..<n]
        return true
    }

    private func line() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: 10), i > 0, buffer[i - 1] == 13 {
                let s = String(decoding: buffer[0..<(i - 1)], as: UTF8.self)
                buffer.removeFirst(i + 1)
                return s
            }
            guard fill() else { throw gone() }
        }
    }

    /// Why no more bytes came: the peer closed, or the receive timeout passed (which request).
    private func gone() -> RawError { closedByPeer ? .closed : .timedOut(lastRequestLine) }

    private func take(_ n: Int) throws -> [UInt8] {
        while buffer.count < n { guard fill() else { throw gone() } }
        let out = Array(buffer[0..<n])
        buffer.removeFirst(n)
        return out
    }

    /// Reads one response (skipping interim 100s unless asked). HEAD responses have no body.
    func readResponse(head: Bool = false, keepInterim: Bool = false) throws -> RawResponse {
        while true {
            let statusLine = try line()
            let parts = statusLine.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, let status = Int(parts[1]) else { throw RawError.bad(statusLine) }
            var headers: [(String, String)] = []
            while true {
                let l = try line()
                if l.isEmpty { break }
                let kv = l.split(separator: ":", maxSplits: 1)
                headers.append((String(kv[0]), kv.count > 1 ? kv[1].trimmingCharacters(in: .whitespaces) : ""))
            }
            var r = RawResponse(status: status, headers: headers, body: [])
            if status < 200 && !keepInterim && status != 101 { continue }
            if head || status == 204 || status == 304 || status < 200 { return r }
            if let te = r.header("transfer-encoding"), te.lowercased().contains("chunked") {
                while true {
                    let sizeLine = try line()
                    let size = Int(sizeLine.split(separator: ";")[0], radix: 16) ?? 0
                    if size == 0 {
                        while try !line().isEmpty {}
                        break
                    }
                    r.body += try take(size)
                    _ = try take(2)
                }
            } else if let cl = r.header("content-length").flatMap({ Int($0) }) {
                r.body = try take(cl)
            } else {
                while fill() {}
                r.body = buffer
                buffer = []
            }
            return r
        }
    }

    /// True if the peer closes within the receive timeout and sends nothing more.
    func waitForClose() -> Bool {
        while fill() {}
        return closedByPeer && buffer.isEmpty
    }
}

enum RawError: Error {
    case connect(Int32)
    case closed
    /// No answer within the receive timeout to the request whose first line this is.
    case timedOut(String)
    case bad(String)
}

/// Runs a command-line tool (curl, openssl) and returns its exit code and output.
@discardableResult
func runTool(_ args: [String], stdin: Data? = nil) throws -> (code: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    let out = Pipe(), err = Pipe(), inp = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = inp
    try p.run()
    if let stdin { inp.fileHandleForWriting.write(stdin) }
    try? inp.fileHandleForWriting.close()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}
