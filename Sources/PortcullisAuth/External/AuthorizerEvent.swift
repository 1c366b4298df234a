public import PortcullisConfig
public import PortcullisCore
import PortcullisTLS
import NIOCore

/// The JSON event an external authorizer is POSTed, in API Gateway's shapes
/// (shared/AWS_SEMANTICS.md §1.2): TOKEN `{type, authorizationToken, methodArn}`, or REQUEST with
/// the method, path, headers, query, path parameters, stage variables and request context.
/// Written by hand with `JSONString` (no Foundation); made only on a cache miss.
public enum AuthorizerEvent {
    public static func token(_ token: String, methodARN: String) -> [UInt8] {
        var out = "{\"type\":\"TOKEN\",\"authorizationToken\":"
        out += JSONString.quoted(token)
        out += ",\"methodArn\":"
        out += JSONString.quoted(methodARN)
        out += "}"
        return Array(out.utf8)
    }

    /// The REST REQUEST event; with `httpAPIv1`, an HTTP API's payload 1.0: the same, with
    /// `version`, and the identity values comma-joined as `identitySource` and `authorizationToken`.
    public static func request(
        _ r: AuthRequest, methodARN: String, stageVariables: [String: String], now: Double, httpAPIv1 identityValues: [String]? = nil
    ) -> [UInt8] {
        let head = r.head
        var out = "{"
        if let identityValues {
            let joined = JSONString.quoted(identityValues.joined(separator: ","))
            out += "\"version\":\"1.0\",\"identitySource\":\(joined),\"authorizationToken\":\(joined),"
        }
        out += "\"type\":\"REQUEST\",\"methodArn\":"
        out += JSONString.quoted(methodARN)
        out += ",\"resource\":" + JSONString.quoted(r.resourcePath)
        out += ",\"path\":" + JSONString.quoted(head.path)
        out += ",\"httpMethod\":" + JSONString.quoted(head.method.name)

        // Headers: the last value of a name in `headers`, every value in `multiValueHeaders`.
        var names: [String] = []
        var values: [String: [String]] = [:]
        for (name, value) in head.headers.pairs {
            if values[name] == nil { names.append(name) }
            values[name, default: []].append(value)
        }
        single(&out, "headers", names, values)
        multi(&out, "multiValueHeaders", names, values)

        var qNames: [String] = []
        var qValues: [String: [String]] = [:]
        for (name, value) in queryValues(head.query) {
            if qValues[name] == nil { qNames.append(name) }
            qValues[name, default: []].append(value)
        }
        single(&out, "queryStringParameters", qNames, qValues)
        multi(&out, "multiValueQueryStringParameters", qNames, qValues)

        out += ",\"pathParameters\":"
        object(&out, r.pathParameters)
        out += ",\"stageVariables\":"
        object(&out, stageVariables.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })

        let api = r.api
        out += ",\"requestContext\":{\"path\":" + JSONString.quoted(head.path)
        out += ",\"accountId\":" + JSONString.quoted(api.account)
        out += ",\"resourceId\":" + JSONString.quoted(r.resourcePath)
        out += ",\"stage\":" + JSONString.quoted(api.stage)
        out += ",\"requestId\":" + JSONString.quoted(r.requestID)
        out += ",\"resourcePath\":" + JSONString.quoted(r.resourcePath)
        out += ",\"httpMethod\":" + JSONString.quoted(head.method.name)
        out += ",\"apiId\":" + JSONString.quoted(api.id)
        out += ",\"protocol\":\"HTTP/1.1\""
        out += ",\"requestTimeEpoch\":\(Int64(now * 1000))"
        out += ",\"domainName\":" + JSONString.quoted(head.headers.first(named: "host"))
        out += ",\"identity\":{\"sourceIp\":" + JSONString.quoted(r.clientIP?.description)
        out += ",\"userAgent\":" + JSONString.quoted(head.headers.first(named: "user-agent"))
        out += ",\"apiKey\":" + JSONString.quoted(head.headers.first(named: "x-api-key"))
        out += ",\"clientCert\":"
        clientCert(&out, r.clientCertificate)
        out += "}}}"
        return Array(out.utf8)
    }

    /// An HTTP API's payload 2.0 (`AuthorizerPayloadFormatVersion: 2.0`): the route ARN and key,
    /// the raw path and query, cookies apart, header names lower-case with repeated values
    /// comma-joined (the query's too), and `requestContext.http`. The route key names the
    /// request's method (a route for several methods has no single key of its own here).
    public static func requestV2(
        _ r: AuthRequest, routeARN: String, identityValues: [String], stageVariables: [String: String], now: Double
    ) -> [UInt8] {
        let head = r.head
        let api = r.api
        let routeKey = head.method.name + " " + r.resourcePath
        var out = "{\"version\":\"2.0\",\"type\":\"REQUEST\",\"routeArn\":" + JSONString.quoted(routeARN)
        out += ",\"identitySource\":[" + identityValues.map { JSONString.quoted($0) }.joined(separator: ",") + "]"
        out += ",\"routeKey\":" + JSONString.quoted(routeKey)
        out += ",\"rawPath\":" + JSONString.quoted(head.path)
        out += ",\"rawQueryString\":" + JSONString.quoted(head.query)

        var names: [String] = []
        var values: [String: [String]] = [:]
        var cookies: [String] = []
        for (name, value) in head.headers.pairs {
            let lower = name.lowercased()
            if lower == "cookie" {
                for c in value.split(separator: ";") {
                    let t = c.trimmingSpaces
                    if !t.isEmpty { cookies.append(t) }
                }
                continue
            }
            if values[lower] == nil { names.append(lower) }
            values[lower, default: []].append(value)
        }
        out += ",\"cookies\":[" + cookies.map { JSONString.quoted($0) }.joined(separator: ",") + "]"
        joined(&out, "headers", names, values)
        var qNames: [String] = []
        var qValues: [String: [String]] = [:]
        for (name, value) in queryValues(head.query) {
            if qValues[name] == nil { qNames.append(name) }
            qValues[name, default: []].append(value)
        }
        joined(&out, "queryStringParameters", qNames, qValues)

        let host = domainName(head)
        let millis = Int64(now * 1000)
        out += ",\"requestContext\":{\"accountId\":" + JSONString.quoted(api.account)
        out += ",\"apiId\":" + JSONString.quoted(api.id)
        out += ",\"authentication\":"
        if r.clientCertificate != nil {
            out += "{\"clientCert\":"
            clientCert(&out, r.clientCertificate)
            out += "}"
        } else {
            out += "null"
        }
        out += ",\"domainName\":" + JSONString.quoted(host)
        out += ",\"domainPrefix\":" + JSONString.quoted(host.map { String($0.split(separator: ".", maxSplits: 1).first ?? "") })
        out += ",\"http\":{\"method\":" + JSONString.quoted(head.method.name)
        out += ",\"path\":" + JSONString.quoted(head.path)
        out += ",\"protocol\":" + JSONString.quoted(head.version == .http10 ? "HTTP/1.0" : "HTTP/1.1")
        out += ",\"sourceIp\":" + JSONString.quoted(r.clientIP?.description)
        out += ",\"userAgent\":" + JSONString.quoted(head.headers.first(named: "user-agent")) + "}"
        out += ",\"requestId\":" + JSONString.quoted(r.requestID)
        out += ",\"routeKey\":" + JSONString.quoted(routeKey)
        out += ",\"stage\":" + JSONString.quoted(api.stage.isEmpty ? "$default" : api.stage)
        out += ",\"time\":" + JSONString.quoted(CivilTime.commonLogTime(millis / 1000))
        out += ",\"timeEpoch\":\(millis)}"
        out += ",\"pathParameters\":"
        object(&out, r.pathParameters)
        out += ",\"stageVariables\":"
        object(&out, stageVariables.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        out += "}"
        return Array(out.utf8)
    }

    /// Name/value pairs of a query string, percent-decoded (`+` as a space); broken escapes are
    /// kept as sent.
    static func queryValues(_ query: String) -> [(String, String)] {
        guard !query.isEmpty else { return [] }
        typealias Source = JWTAuthorizerConfig.IdentitySource
        return query.split(separator: "&").map { pair in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Source.percentDecode(kv[0]) ?? String(kv[0])
            let value = kv.count == 2 ? (Source.percentDecode(kv[1]) ?? String(kv[1])) : ""
            return (name, value)
        }
    }

    private static func single(_ out: inout String, _ key: String, _ names: [String], _ values: [String: [String]]) {
        out += ",\"\(key)\":{"
        for (i, n) in names.enumerated() {
            if i > 0 { out += "," }
            out += JSONString.quoted(n) + ":" + JSONString.quoted(values[n]?.last)
        }
        out += "}"
    }

    private static func multi(_ out: inout String, _ key: String, _ names: [String], _ values: [String: [String]]) {
        out += ",\"\(key)\":{"
        for (i, n) in names.enumerated() {
            if i > 0 { out += "," }
            out += JSONString.quoted(n) + ":["
            out += (values[n] ?? []).map { JSONString.quoted($0) }.joined(separator: ",")
            out += "]"
        }
        out += "}"
    }

    /// The host the request named, without its port: an absolute-form target's authority, else
    /// the Host header; a bracketed IPv6 literal stays whole (`[::1]:8080` is `[::1]`).
    static func domainName(_ head: HTTPRequestHead) -> String? {
        var authority: String?
        if head.authorityStart >= 0 {
            authority = head.headers.raw.withUnsafeReadableBytes { p in
                String(decoding: p[Int(head.authorityStart)..<Int(head.authorityStart + head.authorityLength)], as: UTF8.self)
            }
        } else {
            authority = head.headers.first(named: "host")
        }
        guard let a = authority else { return nil }
        if a.hasPrefix("["), let close = a.firstIndex(of: "]") { return String(a[...close]) }
        return String(a.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }

    /// The verified client certificate as both shapes carry it, or null.
    private static func clientCert(_ out: inout String, _ c: ClientCertificate?) {
        guard let c else {
            out += "null"
            return
        }
        out += "{\"clientCertPem\":" + JSONString.quoted(c.pem)
        out += ",\"subjectDN\":" + JSONString.quoted(c.subject)
        out += ",\"issuerDN\":" + JSONString.quoted(c.issuer)
        out += ",\"serialNumber\":" + JSONString.quoted(c.serialNumber)
        out += ",\"validity\":{\"notBefore\":" + JSONString.quoted(c.notBefore)
        out += ",\"notAfter\":" + JSONString.quoted(c.notAfter) + "}}"
    }

    /// Payload 2.0's maps: every value of a name, comma-joined.
    private static func joined(_ out: inout String, _ key: String, _ names: [String], _ values: [String: [String]]) {
        out += ",\"\(key)\":{"
        for (i, n) in names.enumerated() {
            if i > 0 { out += "," }
            out += JSONString.quoted(n) + ":" + JSONString.quoted((values[n] ?? []).joined(separator: ","))
        }
        out += "}"
    }

    private static func object(_ out: inout String, _ pairs: [(String, String)]) {
        out += "{"
        for (i, (k, v)) in pairs.enumerated() {
            if i > 0 { out += "," }
            out += JSONString.quoted(k) + ":" + JSONString.quoted(v)
        }
        out += "}"
    }
}
