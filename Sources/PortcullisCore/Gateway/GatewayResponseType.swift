/// Every refusal the gateway makes, named as API Gateway names its (REST) gateway response
/// types, plus the few that a self-hosted HTTP front needs on top
/// (malformed requests, head limits, slow clients, no healthy upstream, HTTP-API style 404).
public enum GatewayResponseType: String, CaseIterable, Sendable, Hashable {
    case ACCESS_DENIED
    case API_CONFIGURATION_ERROR
    case AUTHORIZER_CONFIGURATION_ERROR
    case AUTHORIZER_FAILURE
    case BAD_REQUEST_PARAMETERS
    case BAD_REQUEST_BODY
    case DEFAULT_4XX
    case DEFAULT_5XX
    case EXPIRED_TOKEN
    case INTEGRATION_FAILURE
    case INTEGRATION_TIMEOUT
    case INVALID_API_KEY
    case INVALID_SIGNATURE
    case MISSING_AUTHENTICATION_TOKEN
    case QUOTA_EXCEEDED
    case REQUEST_TOO_LARGE
    case RESOURCE_NOT_FOUND
    case THROTTLED
    case UNAUTHORIZED
    case UNSUPPORTED_MEDIA_TYPE
    case WAF_FILTERED
    // Portcullis additions (not API Gateway types); each falls back to DEFAULT_4XX / DEFAULT_5XX.
    case BAD_REQUEST
    /// A valid caller without the right scope or claim: HTTP APIs' 403 `{"message":"Forbidden"}`.
    case FORBIDDEN
    case NOT_FOUND
    case REQUEST_TIMEOUT
    case REQUEST_HEADER_FIELDS_TOO_LARGE
    /// A method ARN over 1,600 bytes on a route with a Lambda authorizer: API Gateway's 414,
    /// which has no gateway response type of its own.
    case REQUEST_URI_TOO_LONG
    case EXPECTATION_FAILED
    case NOT_IMPLEMENTED
    case HTTP_VERSION_NOT_SUPPORTED
    case SERVICE_UNAVAILABLE

    /// Default status. DEFAULT_4XX/5XX have none of their own in API Gateway; 400/500 stand in.
    public var defaultStatus: Int {
        switch self {
        case .ACCESS_DENIED, .EXPIRED_TOKEN, .INVALID_API_KEY, .INVALID_SIGNATURE,
            .MISSING_AUTHENTICATION_TOKEN, .WAF_FILTERED, .FORBIDDEN:
            return 403
        case .API_CONFIGURATION_ERROR, .AUTHORIZER_CONFIGURATION_ERROR, .AUTHORIZER_FAILURE, .DEFAULT_5XX:
            return 500
        case .BAD_REQUEST_PARAMETERS, .BAD_REQUEST_BODY, .DEFAULT_4XX, .BAD_REQUEST: return 400
        // API Gateway's own INTEGRATION_FAILURE is 504; a proxy's users expect 502 (issue 2).
        case .INTEGRATION_FAILURE: return 502
        case .INTEGRATION_TIMEOUT: return 504
        case .QUOTA_EXCEEDED, .THROTTLED: return 429
        case .REQUEST_TOO_LARGE: return 413
        case .RESOURCE_NOT_FOUND, .NOT_FOUND: return 404
        case .UNAUTHORIZED: return 401
        case .UNSUPPORTED_MEDIA_TYPE: return 415
        case .REQUEST_TIMEOUT: return 408
        case .REQUEST_HEADER_FIELDS_TOO_LARGE: return 431
        case .REQUEST_URI_TOO_LONG: return 414
        case .EXPECTATION_FAILED: return 417
        case .NOT_IMPLEMENTED: return 501
        case .HTTP_VERSION_NOT_SUPPORTED: return 505
        case .SERVICE_UNAVAILABLE: return 503
        }
    }

    /// `$context.error.message` when the refusal does not bring its own; nil renders as JSON null.
    public var defaultMessage: String? {
        switch self {
        case .ACCESS_DENIED: return "User is not authorized to access this resource"
        case .API_CONFIGURATION_ERROR, .INTEGRATION_FAILURE: return "Internal server error"
        case .AUTHORIZER_CONFIGURATION_ERROR, .AUTHORIZER_FAILURE: return nil
        case .BAD_REQUEST_PARAMETERS: return "Missing required request parameters"
        case .BAD_REQUEST_BODY: return "Invalid request body"
        case .DEFAULT_4XX, .DEFAULT_5XX: return nil
        case .EXPIRED_TOKEN: return "The security token included in the request is expired"
        case .INTEGRATION_TIMEOUT: return "Endpoint request timed out"
        case .INVALID_API_KEY, .WAF_FILTERED, .FORBIDDEN: return "Forbidden"
        case .INVALID_SIGNATURE: return "The request signature we calculated does not match the signature you provided."
        case .MISSING_AUTHENTICATION_TOKEN: return "Missing Authentication Token"
        case .QUOTA_EXCEEDED: return "Limit Exceeded"
        case .REQUEST_TOO_LARGE: return "Request Too Long"
        case .RESOURCE_NOT_FOUND, .NOT_FOUND: return "Not Found"
        case .THROTTLED: return "Too Many Requests"
        case .UNAUTHORIZED: return "Unauthorized"
        case .UNSUPPORTED_MEDIA_TYPE: return "Unsupported Media Type"
        case .BAD_REQUEST: return "Bad Request"
        case .REQUEST_TIMEOUT: return "Request Timeout"
        case .REQUEST_HEADER_FIELDS_TOO_LARGE: return "Request Header Fields Too Large"
        case .REQUEST_URI_TOO_LONG: return "Request URI too long"
        case .EXPECTATION_FAILED: return "Expectation Failed"
        case .NOT_IMPLEMENTED: return "Not Implemented"
        case .HTTP_VERSION_NOT_SUPPORTED: return "HTTP Version Not Supported"
        case .SERVICE_UNAVAILABLE: return "Service Unavailable"
        }
    }

    /// The `x-amzn-ErrorType` header value, as API Gateway sends it; nil sends none.
    public var errorType: String? {
        switch self {
        case .ACCESS_DENIED: return "AccessDeniedException"
        case .AUTHORIZER_CONFIGURATION_ERROR, .AUTHORIZER_FAILURE: return "AuthorizerConfigurationException"
        case .API_CONFIGURATION_ERROR, .INTEGRATION_FAILURE, .INTEGRATION_TIMEOUT, .DEFAULT_5XX:
            return "InternalServerErrorException"
        case .BAD_REQUEST_PARAMETERS, .BAD_REQUEST_BODY, .BAD_REQUEST, .DEFAULT_4XX: return "BadRequestException"
        case .EXPIRED_TOKEN: return "ExpiredTokenException"
        case .INVALID_API_KEY, .WAF_FILTERED, .FORBIDDEN: return "ForbiddenException"
        case .INVALID_SIGNATURE: return "InvalidSignatureException"
        case .MISSING_AUTHENTICATION_TOKEN: return "MissingAuthenticationTokenException"
        case .QUOTA_EXCEEDED: return "LimitExceededException"
        case .THROTTLED: return "TooManyRequestsException"
        case .UNAUTHORIZED: return "UnauthorizedException"
        case .REQUEST_TOO_LARGE: return "RequestEntityTooLargeException"
        case .RESOURCE_NOT_FOUND, .NOT_FOUND: return "NotFoundException"
        case .UNSUPPORTED_MEDIA_TYPE: return "UnsupportedMediaTypeException"
        case .REQUEST_TIMEOUT: return "RequestTimeoutException"
        case .REQUEST_HEADER_FIELDS_TOO_LARGE: return "RequestHeaderFieldsTooLargeException"
        case .REQUEST_URI_TOO_LONG: return "RequestUriTooLongException"
        case .EXPECTATION_FAILED: return "ExpectationFailedException"
        case .NOT_IMPLEMENTED: return "NotImplementedException"
        case .HTTP_VERSION_NOT_SUPPORTED: return "HttpVersionNotSupportedException"
        case .SERVICE_UNAVAILABLE: return "ServiceUnavailableException"
        }
    }

    /// Authorization denials use a capital `Message` key in API Gateway's bodies.
    public var messageKey: String { self == .ACCESS_DENIED ? "Message" : "message" }

    /// The default body. Most are the compact template `{"message":$context.error.messageString}`;
    /// the few that API Gateway writes with a space after the colon are kept byte-exact.
    public func defaultBody(message: String?) -> String {
        let quoted = JSONString.quoted(message)
        switch self {
        case .INTEGRATION_TIMEOUT, .AUTHORIZER_CONFIGURATION_ERROR, .AUTHORIZER_FAILURE:
            return "{\"\(messageKey)\": \(quoted)}"
        default:
            return "{\"\(messageKey)\":\(quoted)}"
        }
    }

    /// The 4XX or 5XX default that a type falls back to when it is not customised itself.
    public var fallback: GatewayResponseType? {
        switch self {
        case .DEFAULT_4XX, .DEFAULT_5XX: return nil
        default: return defaultStatus >= 500 ? .DEFAULT_5XX : .DEFAULT_4XX
        }
    }
}

/// Minimal JSON string quoting for bodies and log lines (no Foundation).
public enum JSONString {
    public static func quoted(_ s: String?) -> String {
        guard let s else { return "null" }
        var out = "\""
        escape(s, into: &out)
        out += "\""
        return out
    }

    public static func escape(_ s: String, into out: inout String) {
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
    }
}
