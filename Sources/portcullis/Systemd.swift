#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET per state change.
enum Systemd {
    static func notify(_ message: String) {
        guard let path = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !path.isEmpty else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        _ = message.withCString { msg in
            withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, msg, strlen(msg), 0, $0, len) }
            }
        }
    }

    static func monotonicMicros() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }

    /// The watchdog interval systemd asks for (`WatchdogSec=`, passed as WATCHDOG_USEC), if it asks
    /// this process (WATCHDOG_PID, when set, names it).
    static func watchdogInterval() -> UInt64? {
        guard let text = getenv("WATCHDOG_USEC").map({ String(cString: $0) }), let usec = UInt64(text), usec > 0 else { return nil }
        if let p = getenv("WATCHDOG_PID").map({ String(cString: $0) }), let pid = Int32(p), pid != getpid() { return nil }
        return usec
    }

    /// Sends WATCHDOG=1 at half the interval, each time only after every event loop has run a
    /// task: a loop stuck in a handler stops the pings, and systemd restarts the service.
    static func startWatchdog(_ group: any EventLoopGroup) -> Task<Void, Never>? {
        guard let usec = watchdogInterval() else { return nil }
        return Task.detached {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: usec * 1000 / 2)
                if Task.isCancelled { return }
                let answers = group.makeIterator().map { $0.submit {} }
                guard (try? await EventLoopFuture.andAllSucceed(answers, on: group.next()).get()) != nil else { continue }
                if !Task.isCancelled { notify("WATCHDOG=1") }
            }
        }
    }
}
