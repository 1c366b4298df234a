/// A complete response: status, headers as received, body de-chunked.
public struct HTTPClientResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header of that name (compared case-insensitively; pass it lower-cased).
    public func header(_ lowercasedName: String) -> String? {
        headers.first { $0.0.lowercased() == lowercasedName }?.1
    }

    /// `max-age` of Cache-Control in seconds; 0 when `no-store` or `no-cache` say not to keep the
    /// response; nil when the server says nothing. Key-set refresh schedules by it.
    public var maxAge: Double? {
        guard let cc = header("cache-control")?.lowercased() else { return nil }
        var age: Double? = nil
        for part in cc.split(separator: ",") {
            let d = part.split(separator: "=", maxSplits: 1).map(Self.trimmed)
            if d.first == "no-store" || d.first == "no-cache" { return 0 }
            if d.count == 2, d[0] == "max-age", let v = Double(d[1]), v >= 0 { age = v }
        }
        return age
    }

    private static func trimmed(_ s: Substring) -> Substring {
        var s = s
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}
