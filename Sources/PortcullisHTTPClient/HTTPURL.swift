/// An http(s) URL split into what a client request needs: `scheme://host[:port][/path][?query]`,
/// host a name, an IPv4 address or a bracketed IPv6 one. No user info; a fragment is dropped.
public struct HTTPURL: Sendable, Equatable, CustomStringConvertible {
    public let isTLS: Bool
    public let host: String
    public let port: Int
    /// Path and query, starting with `/`.
    public let target: String

    public init?(_ s: String) {
        var rest: Substring
        if s.hasPrefix("https://") {
            isTLS = true
            rest = s.dropFirst(8)
        } else if s.hasPrefix("http://") {
            isTLS = false
            rest = s.dropFirst(7)
        } else {
            return nil
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var t = String(rest[authorityEnd...])
        if t.isEmpty || t.hasPrefix("?") { t = "/" + t }
        if let hash = t.firstIndex(of: "#") { t = String(t[..<hash]) }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var hostPart = authority
        var portValue = isTLS ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()), (1...65535).contains(p) else { return nil }
                portValue = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            portValue = p
            hostPart = authority[..<colon]
        }
        guard !hostPart.isEmpty, t.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        host = String(hostPart)
        port = portValue
        target = t
    }

    /// The Host header value.
    public var hostHeader: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == (isTLS ? 443 : 80) ? h : "\(h):\(port)"
    }

    public var description: String { "\(isTLS ? "https" : "http")://\(hostHeader)\(target)" }
}
