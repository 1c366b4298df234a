public import PortcullisConfig
public import PortcullisCore

/// Reads the token from where the authorizer was told to look. A header value may carry the
/// `Bearer ` scheme or be the bare token (API Gateway accepts both).
extension JWTAuthorizerConfig.IdentitySource {
    public func token(in head: HTTPRequestHead) -> String? {
        switch self {
        case .header(let name):
            // Read in place: the token is the only String made (a JWT is hundreds of bytes).
            return head.headers.withFirstValue(named: name) { v in
                Self.bearerToken(in: v).map { String(decoding: UnsafeRawBufferPointer(rebasing: v[$0]), as: UTF8.self) }
            } ?? nil
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
        var v = v
        return v.withUTF8 { p in
            let raw = UnsafeRawBufferPointer(p)
            return bearerToken(in: raw).map { String(decoding: UnsafeRawBufferPointer(rebasing: raw[$0]), as: UTF8.self) }
        }
    }

    /// Where the token is in a header value: blanks trimmed, then a `Bearer` scheme (any case)
    /// and the blanks after it; nil when nothing is left ("Bearer" alone carries no token).
    static func bearerToken(in v: UnsafeRawBufferPointer) -> Range<Int>? {
        func blank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }
        var start = 0
        var end = v.count
        while start < end, blank(v[start]) { start += 1 }
        while start < end, blank(v[end - 1]) { end -= 1 }
        if end - start >= 6 {
            var matches = true
            for (k, c) in "bearer".utf8.enumerated() where v[start + k] | 0x20 != c {
                matches = false
                break
            }
            let i = start + 6
            if matches && i == end { return nil }
            if matches && blank(v[i]) {
                start = i
                while start < end, blank(v[start]) { start += 1 }
            }
        }
        return start == end ? nil : start..<end
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
