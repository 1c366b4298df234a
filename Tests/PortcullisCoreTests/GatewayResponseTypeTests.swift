import Testing

@testable import PortcullisCore

@Suite struct GatewayResponseTypeTests {
    @Test func defaultBodiesAreByteExact() {
        // Content-Length values seen from API Gateway, as captured from API Gateway.
        let mat = GatewayResponseType.MISSING_AUTHENTICATION_TOKEN.defaultBody(message: "Missing Authentication Token")
        #expect(mat == #"{"message":"Missing Authentication Token"}"# && mat.utf8.count == 42)
        #expect(GatewayResponseType.UNAUTHORIZED.defaultBody(message: "Unauthorized").utf8.count == 26)
        #expect(GatewayResponseType.INVALID_API_KEY.defaultBody(message: "Forbidden").utf8.count == 23)
        #expect(GatewayResponseType.ACCESS_DENIED.defaultBody(message: "x") == #"{"Message":"x"}"#)
        #expect(GatewayResponseType.AUTHORIZER_CONFIGURATION_ERROR.defaultBody(message: nil) == #"{"message": null}"#)
        #expect(GatewayResponseType.INTEGRATION_TIMEOUT.defaultBody(message: "Endpoint request timed out") == #"{"message": "Endpoint request timed out"}"#)
    }

    @Test func statusesAndFallbacks() {
        #expect(GatewayResponseType.INTEGRATION_FAILURE.defaultStatus == 502)
        #expect(GatewayResponseType.INTEGRATION_TIMEOUT.defaultStatus == 504)
        #expect(GatewayResponseType.THROTTLED.fallback == .DEFAULT_4XX)
        #expect(GatewayResponseType.SERVICE_UNAVAILABLE.fallback == .DEFAULT_5XX)
        #expect(GatewayResponseType.DEFAULT_4XX.fallback == nil)
        #expect(GatewayResponseType.MISSING_AUTHENTICATION_TOKEN.errorType == "MissingAuthenticationTokenException")
        #expect(GatewayResponseType.REQUEST_URI_TOO_LONG.defaultStatus == 414)
        #expect(GatewayResponseType.REQUEST_URI_TOO_LONG.defaultBody(message: GatewayResponseType.REQUEST_URI_TOO_LONG.defaultMessage)
            == #"{"message":"Request URI too long"}"#)
    }

    @Test func jsonEscaping() {
        #expect(JSONString.quoted("a\"b\\c\n\u{01}") == #""a\"b\\c\n\u0001""#)
        #expect(JSONString.quoted(nil) == "null")
    }
}
