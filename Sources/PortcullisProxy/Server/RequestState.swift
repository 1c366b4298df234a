import NIOCore
import PortcullisAuth
import PortcullisCore

/// Everything one request owns, as one value: made when its head is parsed (or refused) and
/// replaced whole by the next one, never reset field by field. Lifecycle flags (keep-alive, body
/// done, response started) live in `ConnectionStateMachine`; this holds the request's data.
struct RequestState {
    /// How upstream response bytes become client bytes.
    enum ResponseMode {
        case raw
        /// The upstream ends its body by closing; the client gets chunks instead.
        case rechunk
        /// A chunked body for an HTTP/1.0 client: payload only, connection closes at the end.
        case dechunk
    }

    let id: RequestID
    let started: NIODeadline
    /// Nil for bytes refused before a head could be used.
    let head: HTTPRequestHead?

    // Routing.
    var api: CompiledAPI?
    var route: CompiledRoute?
    /// Where the upstream path starts inside the request path (after the stage prefix).
    var restStart = 0
    var params: [ParamRange] = []

    // Admission: the driver, kept while a phase waits (the closure that waits holds the
    // request the phases look at), and the identity it established.
    var admission: WaitingAdmission?
    var identity: Identity?

    // Upstream.
    var pool: EndpointPool?
    var upstream: UpstreamConnection?
    /// Failed connection attempts so far (each may move to another endpoint).
    var attempts = 0
    var reusedConnection = false
    var upstreamStarted = NIODeadline.uptimeNanoseconds(0)
    var upstreamLatency: Int64 = -1

    // Request body.
    var bodyLimit: Int64 = 0
    /// Buffering for admission: how far the chunked body has been scanned, and its decoder.
    var bufferScanned = 0
    var bufferDecoder = ChunkedDecoder()
    /// `100 Continue` went out already (when the body was read for admission).
    var continueSent = false
    var bodyRemaining: Int64 = 0
    var bodyDecoder = ChunkedDecoder()

    // Response.
    var responseMode = ResponseMode.raw
    var responseDechunker = ChunkedDecoder()
    var status = 0
    var bytesSent = 0
    /// Of `bytesSent`, the response head's: `responseLength` in the access log is the body alone.
    var headBytes = 0
    /// The precise reason of a refusal or failure, for the access log only.
    var errorReason: String?
    /// The gateway response type of a refusal, for the access log (`error.responseType`).
    var responseType: GatewayResponseType?
    /// An `auth:` entry refused the request (its reason is `$context.authorizer.error`).
    var authorizerRefused = false

    init(id: RequestID, started: NIODeadline, head: HTTPRequestHead?) {
        self.id = id
        self.started = started
        self.head = head
    }

    /// Before the first request of a connection: nothing to log.
    static var none: RequestState { RequestState(id: RequestID(hi: 0, lo: 0), started: .uptimeNanoseconds(0), head: nil) }
}

/// The admission driver of a request whose phase waits (a key-set refresh, an external
/// authorizer's call): boxed, because it is 192 bytes that almost every request never keeps, and
/// `RequestState` lives inline in every connection, idle ones included.
final class WaitingAdmission {
    var driver: Admission<AdmissionStep>

    init(_ driver: Admission<AdmissionStep>) {
        self.driver = driver
    }
}
