import NIOCore
public import PortcullisCore
public import PortcullisTLS

/// What an authorizer may look at: the parsed head and what routing learned. It knows nothing of
/// channels; the proxy builds one per request from its own state.
public struct AuthRequest: Sendable {
    public var head: HTTPRequestHead
    public var clientIP: IPAddress?
    /// The request id, written out only when asked (logs): most requests never need the text.
    public var id: RequestID?
    @usableFromInline var requestIDText: String?
    public var requestID: String {
        get { requestIDText ?? id?.string ?? "" }
        set { requestIDText = newValue }
    }
    /// The matched route's template (`/items/{id}`) and its parameters.
    public var resourcePath: String
    /// The route's parameters as offsets into the path; `pathParameters` writes them out.
    public var pathParameterSpans: [PathParameterSpan]
    /// The route's parameters by name, made when a phase asks (an external authorizer's event).
    public var pathParameters: [(String, String)] {
        guard !pathParameterSpans.isEmpty else { return [] }
        let h = head
        return h.headers.raw.withUnsafeReadableBytes { p in
            pathParameterSpans.map { ($0.name, String(decoding: p[Int(h.targetStart) + $0.start..<Int(h.targetStart) + $0.end], as: UTF8.self)) }
        }
    }
    public var api: APIRef
    /// The verified client certificate of a mutual-TLS connection.
    public var clientCertificate: ClientCertificate?
    /// Hex SHA-256 of the request body, for routes whose phases read it (SigV4); the proxy holds
    /// such a body until admission ends. Nil on other routes.
    public var payloadHash: String?
    /// The listener the request arrived on.
    public var listener: ListenerFacts
    /// The request came over TLS (aws:SecureTransport).
    public var secureTransport: Bool

    /// What phases may know of a listener: whether it is private, and the VPC and VPC endpoint
    /// its requests come from (the aws:SourceVpc and aws:SourceVpce condition keys).
    /// A class: made once per listener and snapshot, so a request holds one reference.
    public final class ListenerFacts: Sendable, Equatable {
        public let name: String
        public let isPrivate: Bool
        public let vpc: String?
        public let vpce: String?

        public static func == (a: ListenerFacts, b: ListenerFacts) -> Bool {
            a.name == b.name && a.isPrivate == b.isPrivate && a.vpc == b.vpc && a.vpce == b.vpce
        }

        public init(name: String, isPrivate: Bool = false, vpc: String? = nil, vpce: String? = nil) {
            self.name = name
            self.isPrivate = isPrivate
            self.vpc = vpc
            self.vpce = vpce
        }
    }

    /// The API identity needed for ARNs and messages. A class: made once per API at load, so a
    /// request holds one reference instead of five strings.
    public final class APIRef: Sendable {
        public let id: String
        public let stage: String
        public let region: String
        public let account: String
        /// `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/`, made once per API at load.
        public let arnPrefix: String
        /// The start of every external-authorizer cache key of this API and stage: `len:id` and
        /// `len:stage` (`ExternalAuthorizer.withIdentityKey`), made once per API at load.
        public let cacheKeyPrefix: [UInt8]
        public init(id: String, stage: String, region: String, account: String) {
            self.id = id
            self.stage = stage
            self.region = region
            self.account = account
            arnPrefix = "arn:aws:execute-api:\(region):\(account):\(id)/\(stage.isEmpty ? "$default" : stage)/"
            cacheKeyPrefix = Array("\(id.utf8.count):\(id)\(stage.utf8.count):\(stage)".utf8)
        }
    }

    /// Inlinable, so that a caller in another module builds the request in place: across the
    /// module boundary the value was made, copied into the caller's and destroyed, once per
    /// guarded request.
    @inlinable
    public init(
        head: HTTPRequestHead, clientIP: IPAddress?, requestID: String? = nil, id: RequestID? = nil, resourcePath: String,
        pathParameters: [PathParameterSpan] = [], api: APIRef, clientCertificate: ClientCertificate? = nil, payloadHash: String? = nil,
        listener: ListenerFacts = ListenerFacts(name: ""), secureTransport: Bool = false
    ) {
        self.secureTransport = secureTransport
        self.clientCertificate = clientCertificate
        self.payloadHash = payloadHash
        self.listener = listener
        self.head = head
        self.clientIP = clientIP
        self.requestIDText = requestID
        self.id = id
        self.resourcePath = resourcePath
        self.pathParameterSpans = pathParameters
        self.api = api
    }

    /// `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH`, as API Gateway names the method.
    /// Built straight from the prefix made at load and the head's bytes: one allocation.
    public var methodARN: String {
        withMethodARNSuffix(()) { _, method, path in
            let count = api.arnPrefix.utf8.count + method.count + path.count
            return String(unsafeUninitializedCapacity: count) { out in
                var i = 0
                for b in api.arnPrefix.utf8 { out[i] = b; i += 1 }
                for b in method { out[i] = b; i += 1 }
                for b in path { out[i] = b; i += 1 }
                return i
            }
        }
    }

    /// The method ARN's parts after the API's fixed `arnPrefix`, read in place: the method, and
    /// the path without the stage (`/dev/items` is resource `/items` of stage dev; the stage's
    /// root `/dev` is `/`, as API Gateway writes it).
    /// `argument` is handed to `body` rather than captured by it, which would copy it.
    public func withMethodARNSuffix<A, R>(
        _ argument: A, _ body: (A, _ method: UnsafeRawBufferPointer, _ path: UnsafeRawBufferPointer) -> R
    ) -> R {
        var method = head.method.name
        var stage = api.stage
        let (start, end) = (Int(head.targetStart), Int(head.targetStart + head.pathLength))
        return method.withUTF8 { m in
            stage.withUTF8 { st in
                head.headers.raw.withUnsafeReadableBytes { p in
                    var path = UnsafeRawBufferPointer(rebasing: p[start..<end])
                    let n = st.count
                    if n > 0, path.count > n, path[0] == 0x2F, path.count == n + 1 || path[n + 1] == 0x2F,
                        (0..<n).allSatisfy({ path[$0 + 1] == st[$0] })
                    {
                        path = UnsafeRawBufferPointer(rebasing: path[(n + 1)...])
                    }
                    if path.isEmpty { return withUnsafeBytes(of: UInt8(0x2F)) { body(argument, UnsafeRawBufferPointer(m), $0) } }
                    return body(argument, UnsafeRawBufferPointer(m), path)
                }
            }
        }
    }
}

/// The outcome of one authorizer step or of a requirement: outcomes are values.
public enum AuthDecision: Sendable {
    case allow(Identity?)
    /// The step's identity source is absent (no token, no signature): the request is not this
    /// step's to judge. Inside `any_of` the next alternative runs; alone, the refusal stands.
    case abstain(Refusal)
    case refuse(Refusal)
}
