/// A decision to answer the client from the gateway instead of the upstream.
/// Phases return refusals as values; one function in the proxy renders them.
public struct Refusal: Sendable, Error {
    public var type: GatewayResponseType
    /// `$context.error.message`; nil renders as JSON null.
    public var message: String?
    /// Extra headers for the client (for example `WWW-Authenticate`).
    public var headers: [(String, String)]
    /// The precise reason, for the access log and debug log only (never the client body).
    public var reason: String
    /// Close the connection after answering (framing errors, slow clients).
    public var closeConnection: Bool
    /// `x-amzn-ErrorType` when it is not the type's own: API Gateway names some SigV4 refusals
    /// more precisely than their gateway response type (IncompleteSignatureException,
    /// UnrecognizedClientException).
    public var errorType: String? = nil

    public init(
        _ type: GatewayResponseType,
        reason: String,
        headers: [(String, String)] = [],
        closeConnection: Bool = false
    ) {
        self.type = type
        self.message = type.defaultMessage
        self.headers = headers
        self.reason = reason
        self.closeConnection = closeConnection
    }

    public init(
        _ type: GatewayResponseType,
        message: String?,
        reason: String,
        headers: [(String, String)] = [],
        closeConnection: Bool = false
    ) {
        self.type = type
        self.message = message
        self.headers = headers
        self.reason = reason
        self.closeConnection = closeConnection
    }
}
