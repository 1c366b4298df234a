import NIOCore
import PortcullisConfig
import PortcullisCore

/// Renders refusals as API Gateway would: status, JSON body, `x-amzn-RequestId`, `x-amz-apigw-id`,
/// `x-amzn-ErrorType`, with per-type and DEFAULT_4XX/DEFAULT_5XX overrides, as API Gateway lets
/// operators customise its gateway responses.
/// Built once per snapshot and API; rendering happens only on the refusal path.
final class GatewayResponder: Sendable {
    struct Resolved: Sendable {
        var status: Int
        var headers: [(String, String)]
        var body: Template?
    }

    /// Overrides by type, already merged: API level over global level.
    let overrides: [GatewayResponseType: GatewayResponseOverride]

    init(global: [GatewayResponseType: GatewayResponseOverride], api: [GatewayResponseType: GatewayResponseOverride]) {
        overrides = global.merging(api) { _, apiLevel in apiLevel }
    }

    /// Type override first, then its DEFAULT_4XX/5XX, then the built-in default.
    func resolve(_ type: GatewayResponseType) -> Resolved {
        let own = overrides[type]
        var status = own?.status
        var headers = own?.headers ?? [:]
        var body = own?.body
        if let fb = type.fallback, let d = overrides[fb] {
            // Setting a status on DEFAULT_4XX/5XX changes every type that falls back to it (API Gateway's rule).
            if status == nil, let s = d.status, own == nil { status = s }
            for (k, v) in d.headers where headers[k] == nil { headers[k] = v }
            if body == nil { body = d.body }
        }
        return Resolved(
            status: status ?? type.defaultStatus,
            headers: headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            body: body.map(Template.init))
    }

    /// - Returns: the body's length in bytes (the access log's `responseLength`).
    @discardableResult
    func render(
        _ refusal: Refusal, requestID: RequestID, keepAlive: Bool, into buffer: inout ByteBuffer
    ) -> Int {
        let r = resolve(refusal.type)
        let body: String
        if let t = r.body {
            body = t.render(refusal: refusal, requestID: requestID)
        } else {
            body = refusal.type.defaultBody(message: refusal.message)
        }
        buffer.writeString("HTTP/1.1 \(r.status) \(ReasonPhrase.of(r.status))\r\n")
        buffer.writeString("Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n")
        buffer.writeStaticString("x-amzn-RequestId: ")
        requestID.write(into: &buffer)
        buffer.writeStaticString("\r\nx-amz-apigw-id: ")
        requestID.writeShort(into: &buffer)
        buffer.writeStaticString("\r\n")
        if let et = refusal.errorType ?? refusal.type.errorType { buffer.writeString("x-amzn-ErrorType: \(et)\r\n") }
        for (k, v) in refusal.headers { buffer.writeString("\(k): \(v)\r\n") }
        for (k, v) in r.headers { buffer.writeString("\(k): \(v)\r\n") }
        if !keepAlive { buffer.writeStaticString("Connection: close\r\n") }
        buffer.writeStaticString("\r\n")
        return buffer.writeString(body)
    }

    /// The body-too-large answer is plain text and not customisable, as API Gateway's.
    /// - Returns: the body's length in bytes.
    @discardableResult
    static func renderBodyTooLarge(limit: Int64, requestID: RequestID, into buffer: inout ByteBuffer) -> Int {
        let body = "HTTP content length exceeded \(limit) bytes."
        buffer.writeString("HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n")
        buffer.writeStaticString("x-amzn-RequestId: ")
        requestID.write(into: &buffer)
        buffer.writeStaticString("\r\nx-amzn-ErrorType: RequestEntityTooLargeException\r\nConnection: close\r\n\r\n")
        return buffer.writeString(body)
    }
}

/// A body template with API Gateway's simple `$variable` substitution (no VTL).
struct Template: Sendable {
    enum Part: Sendable {
        case text(String)
        case requestID
        case message
        case messageString
        case responseType
    }
    let parts: [Part]

    init(_ source: String) {
        let vars: [(String, Part)] = [
            ("$context.error.messageString", .messageString), ("$context.error.message", .message),
            ("$context.error.responseType", .responseType), ("$context.requestId", .requestID),
        ]
        var parts: [Part] = []
        var rest = Substring(source)
        outer: while !rest.isEmpty {
            if let dollar = rest.firstIndex(of: "$") {
                let tail = rest[dollar...]
                for (name, part) in vars where tail.hasPrefix(name) {
                    parts.append(.text(String(rest[..<dollar])))
                    parts.append(part)
                    rest = tail.dropFirst(name.count)
                    continue outer
                }
                parts.append(.text(String(rest[...dollar])))
                rest = rest[rest.index(after: dollar)...]
            } else {
                parts.append(.text(String(rest)))
                break
            }
        }
        self.parts = parts
    }

    func render(refusal: Refusal, requestID: RequestID) -> String {
        var out = ""
        for p in parts {
            switch p {
            case .text(let t): out += t
            case .requestID: out += requestID.string
            case .message: out += refusal.message ?? ""
            case .messageString: out += JSONString.quoted(refusal.message)
            case .responseType: out += refusal.type.rawValue
            }
        }
        return out
    }
}

enum ReasonPhrase {
    static func of(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 408: return "Request Timeout"
        case 413: return "Payload Too Large"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Status"
        }
    }
}
