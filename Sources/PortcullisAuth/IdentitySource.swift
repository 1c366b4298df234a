public import PortcullisConfig
public import PortcullisCore

/// Reads the token from where the authorizer was told to look. A header value may carry the
/// `Bearer ` scheme or be the bare token (API Gateway accepts both).
extension JWTAuthorizerConfig.IdentitySource {
    public func token(in head: HTTPRequestHead) -> String? {
        switch self {
        case .header(let name):
            guard let v = head.headers.first(named: name) else { return nil }
            return Self.stripBearer(v)
        case .query(let name):
            for pair in head.query.split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard kv.count == 2, Self.percentDecode(kv[0]) == name else { continue }
                let v = Self.percentDecode(kv[1]) ?? ""
                return v.isEmpty ? nil : v
            }
            return nil
        case .cookie(let name):
            for f in head.headers.fields where head.headers.withName(f, Self.isCookie) {
                for part in head.headers.value(f).split(separator: ";") {
                    let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    guard kv.count == 2, kv[0].trimmingSpaces == name else { continue }
                    var v = kv[1].trimmingSpaces
                    if v.count >= 2, v.hasPrefix("\""), v.hasSuffix("\"") { v = String(v.dropFirst().dropLast()) }
                    return v.isEmpty ? nil : v
                }
            }
            return nil
        }
    }

    private static let cookieName: [UInt8] = Array("cookie".utf8)

    private static func isCookie(_ name: UnsafeRawBufferPointer) -> Bool {
        cookieName.withUnsafeBytes { ASCII.equalsIgnoringCase(name, $0) }
    }

    /// The token of an `Authorization`-style value: the `Bearer ` scheme (any case) and
    /// surrounding blanks removed. Works on UTF-8 code units: `Character` counting over a
    /// 1 KiB token would cost microseconds per request.
    static func stripBearer(_ v: String) -> String? {
        let u = v.utf8
        var start = u.startIndex, end = u.endIndex
        func blank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }
        while start < end, blank(u[start]) { start = u.index(after: start) }
        while start < end, blank(u[u.index(before: end)]) { end = u.index(before: end) }
        let scheme: [UInt8] = Array("bearer".utf8)
        if u.distance(from: start, to: end) >= 6 {
            var i = start
            var matches = true
            for c in scheme {
                if u[i] | 0x20 != c { matches = false; break }
                i = u.index(after: i)
            }
            // "Bearer" alone (the parser trims the space after it) carries no token.
            if matches && i == end { return nil }
            if matches && blank(u[i]) {
                start = i
                while start < end, blank(u[start]) { start = u.index(after: start) }
            }
        }
        return start == end ? nil : String(v[start..<end])
    }

    /// `%XX` and `+` decoding of a query component; nil if an escape is broken.
    static func percentDecode(_ s: Substring) -> String? {
        guard s.contains("%") || s.contains("+") else { return String(s) }
        var out: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "+") {
                out.append(0x20)
            } else if c == UInt8(ascii: "%") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                out.append(v)
                it = it.dropFirst(2)
            } else {
                out.append(c)
            }
        }
        return String(validating: out, as: UTF8.self)
    }
}

extension Substring {
    var trimmingSpaces: String {
        var s = self
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
