import PortcullisCore
/// Times as SigV4 writes them: `20150830T123600Z` (X-Amz-Date), or an HTTP `Date` header
/// (`Sun, 30 Aug 2015 12:36:00 GMT`), as seconds since 1970. Pure arithmetic, no Foundation.
enum SigV4Time {
    /// Seconds since 1970 of `YYYYMMDDTHHMMSSZ`; nil when it is not exactly that.
    static func parseAmzDate(_ s: some StringProtocol) -> Int64? {
        let b = Array(s.utf8)
        guard b.count == 16, b[8] == 0x54, b[15] == 0x5A else { return nil }
        func num(_ from: Int, _ n: Int) -> Int64? {
            var v: Int64 = 0
            for c in b[from..<from + n] {
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int64(c - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), let mo = num(4, 2), let d = num(6, 2), let h = num(9, 2), let mi = num(11, 2), let se = num(13, 2)
        else { return nil }
        return epoch(year: y, month: mo, day: d, hour: h, minute: mi, second: se)
    }

    /// Seconds since 1970 of an IMF-fixdate `Date` header; nil otherwise. Each number is plain
    /// digits of its width (a four-digit year): a client's `Int64`-sized year would overflow the
    /// date arithmetic, and an overflow traps the process.
    static func parseHTTPDate(_ s: some StringProtocol) -> Int64? {
        func number(_ t: Substring, _ widths: ClosedRange<Int>) -> Int64? {
            guard widths.contains(t.utf8.count), t.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return Int64(t)
        }
        let parts = s.split(separator: " ").map { Substring($0) }
        guard parts.count == 6, parts[5] == "GMT", let d = number(parts[1], 1...2), let y = number(parts[3], 4...4) else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let m = months.firstIndex(of: String(parts[2])) else { return nil }
        let t = parts[4].split(separator: ":")
        guard t.count == 3, let h = number(t[0], 1...2), let mi = number(t[1], 1...2), let se = number(t[2], 1...2) else { return nil }
        return epoch(year: y, month: Int64(m + 1), day: d, hour: h, minute: mi, second: se)
    }

    static func epoch(year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64) -> Int64? {
        CivilTime.epoch(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    /// `YYYYMMDDTHHMMSSZ` of seconds since 1970.
    static func format(_ t: Int64) -> String {
        let days = CivilTime.dayNumber(t)
        let secs = t - days * 86400
        let (y, m, d) = CivilTime.date(days: days)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var year = "\(y)"
        while year.count < 4 { year = "0" + year }
        return year + two(m) + two(d) + "T" + two(secs / 3600) + two(secs / 60 % 60) + two(secs % 60) + "Z"
    }
}

// The same rules over bytes, for the verifier's byte path (no String per request).
extension SigV4Time {
    /// `parseAmzDate` of the bytes.
    static func parseAmzDate(bytes b: UnsafeRawBufferPointer) -> Int64? {
        guard b.count == 16, b[8] == 0x54, b[15] == 0x5A else { return nil }
        func num(_ from: Int, _ n: Int) -> Int64? {
            var v: Int64 = 0
            for i in from..<from + n {
                let c = b[i]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int64(c - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), let mo = num(4, 2), let d = num(6, 2), let h = num(9, 2), let mi = num(11, 2), let se = num(13, 2)
        else { return nil }
        return epoch(year: y, month: mo, day: d, hour: h, minute: mi, second: se)
    }

    /// Appends `format(t)` (16 bytes for the years 0 to 9999, what a parsed date holds).
    static func appendFormatted(_ t: Int64, to out: inout ByteScratch) {
        let days = CivilTime.dayNumber(t)
        let secs = t - days * 86400
        let (y, m, d) = CivilTime.date(days: days)
        guard (0...9999).contains(y) else {
            var text = format(t)
            text.withUTF8 { out.append(UnsafeRawBufferPointer($0)) }
            return
        }
        out.write(maxCount: 16) { p in
            func two(_ v: Int64, at i: Int) {
                p[i] = 0x30 + UInt8(v / 10)
                p[i + 1] = 0x30 + UInt8(v % 10)
            }
            two(y / 100, at: 0)
            two(y % 100, at: 2)
            two(m, at: 4)
            two(d, at: 6)
            p[8] = 0x54
            two(secs / 3600, at: 9)
            two(secs / 60 % 60, at: 11)
            two(secs % 60, at: 13)
            p[15] = 0x5A
            return 16
        }
    }
}
