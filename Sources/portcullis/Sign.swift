import ArgumentParser
import Foundation
import PortcullisAuth

/// `portcullis sign`: a SigV4 signature for `execute-api` by hand, as an AWS SDK would make it.
struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign a request with SigV4 (for execute-api): headers to add, a curl command, or a presigned URL.",
        discussion: """
            Credentials come from the flags or from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
            AWS_SESSION_TOKEN; the region from --region or AWS_REGION. The URL is signed as given:
            percent-encode its path and query the way the request will send them.

            Examples:
              portcullis sign --region eu-west-1 http://localhost:8080/demo/iam
              eval "$(portcullis sign --curl -X POST -d '{"n":1}' -H 'Content-Type: application/json' --region eu-west-1 http://localhost:8080/demo/iam)"
              curl "$(portcullis sign --presign --expires 300 --region eu-west-1 http://localhost:8080/demo/iam)"
            """)

    @Option(name: .customLong("access-key"), help: "Access key id (default: $AWS_ACCESS_KEY_ID).")
    var accessKey: String?
    @Option(help: "Secret access key (default: $AWS_SECRET_ACCESS_KEY).")
    var secret: String?
    @Option(name: .customLong("session-token"), help: "Session token of temporary credentials (default: $AWS_SESSION_TOKEN).")
    var sessionToken: String?
    @Option(help: "Region of the API (default: $AWS_REGION).")
    var region: String?
    @Option(help: "Service in the credential scope.")
    var service = SigV4Verifier.service
    @Option(name: [.customShort("X"), .customLong("method")], help: "HTTP method (default: GET, or POST with a body).")
    var method: String?
    @Option(name: [.customShort("H"), .customLong("header")], help: "A header to send and sign, as 'Name: value'. Repeatable.")
    var headers: [String] = []
    @Option(name: [.customShort("d"), .customLong("data")], help: "The request body.")
    var data: String?
    @Option(name: .customLong("data-file"), help: "A file holding the request body.")
    var dataFile: String?
    @Flag(help: "Print a presigned URL (query-string signature) instead of headers.")
    var presign = false
    @Option(help: "Lifetime of a presigned URL, in seconds (1 to 604800).")
    var expires = 900
    @Flag(help: "Print a whole curl command instead of the headers.")
    var curl = false
    @Argument(help: "The URL, like http://localhost:8080/demo/items?id=1.")
    var url: String

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        guard let key = accessKey ?? env["AWS_ACCESS_KEY_ID"], let secret = secret ?? env["AWS_SECRET_ACCESS_KEY"] else {
            throw ValidationError("give --access-key and --secret (or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
        }
        guard let region = region ?? env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] else {
            throw ValidationError("give --region (or set AWS_REGION)")
        }
        guard (1...604_800).contains(expires) else { throw ValidationError("--expires must be between 1 and 604800 seconds") }
        guard let schemeEnd = url.range(of: "://") else { throw ValidationError("\(url) is not an http(s) URL") }
        let rest = url[schemeEnd.upperBound...]
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let host = String(rest[..<slash])
        let target = slash == rest.endIndex ? "/" : String(rest[slash...])
        guard !host.isEmpty else { throw ValidationError("\(url) has no host") }

        var body: [UInt8] = []
        if let data { body = Array(data.utf8) }
        if let dataFile { body = Array(try Data(contentsOf: URL(fileURLWithPath: dataFile))) }
        let method = (self.method ?? (body.isEmpty ? "GET" : "POST")).uppercased()
        var pairs: [(String, String)] = []
        for h in headers {
            guard let colon = h.firstIndex(of: ":") else { throw ValidationError("-H \(h): write it as 'Name: value'") }
            pairs.append((String(h[..<colon]), String(h[h.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        let signer = SigV4Signer(accessKeyID: key, secret: secret, sessionToken: sessionToken ?? env["AWS_SESSION_TOKEN"], region: region, service: service)
        let request = SigV4Signer.Request(method: method, host: host, target: target, headers: pairs, body: body)
        let now = Int64(Date().timeIntervalSince1970)
        if presign {
            print(url[..<schemeEnd.upperBound] + host + signer.presignedTarget(for: request, time: now, expires: expires))
            return
        }
        let added = signer.headers(for: request, time: now)
        guard curl else {
            for (k, v) in added { print("\(k): \(v)") }
            return
        }
        var words = ["curl", "-X", method]
        for (k, v) in pairs + added { words += ["-H", "\(k): \(v)"] }
        if let dataFile { words += ["--data-binary", "@" + dataFile] } else if let data { words += ["--data-binary", data] }
        words.append(url)
        print(words.map(Self.shellQuoted).joined(separator: " "))
    }

    static func shellQuoted(_ s: String) -> String {
        if !s.isEmpty && s.allSatisfy({ $0.isLetter || $0.isNumber || "-_./:@=".contains($0) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
