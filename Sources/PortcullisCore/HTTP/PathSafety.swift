/// Request paths the gateway refuses to route because an upstream may read them differently:
/// dot segments (`/a/../b`, also percent-encoded), encoded slashes and backslashes, NUL, and a
/// fragment. Routing and authorizers see the path as sent; if an upstream normalised it into
/// another route's path, a route's authorizer could be skipped. Refusing is what API Gateway's
/// front does for such paths too (400).
public enum PathSafety {
    static func isUTF8(_ p: UnsafeRawBufferPointer) -> Bool {
        var it = p.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&it) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    public static func problem(in p: UnsafeRawBufferPointer) -> String? {
        guard p.first == UInt8(ascii: "/") else { return "the request target must start with /" }
        // Raw bytes above ASCII are tolerated as UTF-8 (some clients send it unencoded), never as
        // anything else: an upstream might decode other bytes in another charset.
        if p.contains(where: { $0 >= 0x80 }) && !isUTF8(p) { return "path is not UTF-8; percent-encode its bytes" }
        var i = 0
        let n = p.count
        while i < n {
            // One segment: p[i+1 ..< e]
            var e = i + 1
            var dots = 0
            var other = 0
            while e < n && p[e] != UInt8(ascii: "/") {
                let c = p[e]
                if c == UInt8(ascii: "\\") { return "backslash in path" }
                if c == UInt8(ascii: "#") { return "fragment in request target" }
                if c == UInt8(ascii: "%") {
                    guard e + 2 < n, let hi = Hex.value(p[e + 1]), let lo = Hex.value(p[e + 2]) else { return "invalid percent-encoding in path" }
                    let decoded = hi << 4 | lo
                    switch decoded {
                    case UInt8(ascii: "."): dots += 1
                    case UInt8(ascii: "/"), UInt8(ascii: "\\"): return "encoded slash in path"
                    case 0: return "encoded NUL in path"
                    default: other += 1
                    }
                    e += 3
                    continue
                }
                if c == UInt8(ascii: ".") { dots += 1 } else { other += 1 }
                e += 1
            }
            if other == 0 && (dots == 1 || dots == 2) { return "dot segment in path" }
            i = e
        }
        return nil
    }

}
