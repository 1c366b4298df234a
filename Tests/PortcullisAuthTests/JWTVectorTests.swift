import Foundation
import PortcullisCore
import Testing

@testable import PortcullisAuth

/// The published examples: RFC 7515 Appendix A.1 (a JWT with HS256, whitespace and CRLF inside
/// its JSON), the RFC 7520 cookbook signatures and RFC 8037's Ed25519 example, read from
/// `<repo>/../shared/vectors`, through our compact parser, JWK parser and verifier.
@Suite("JWT: RFC 7515, 7520 and 8037 examples")
struct JWTVectorTests {
    static func load(_ relativePath: String) throws -> [String: Any]? {
        let url = JWTFixtures.vectorsDirectory.appendingPathComponent(relativePath)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
    }

    /// RFC 7515 A.1: the key is the JWK `k` of the RFC; exp is 1300819380 (March 2011).
    @Test func rfc7515HS256() throws {
        let k = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        let secret = try #require(Base64URL.decode(k))
        var c = JWTFixtures.config(source: .secret(secret))
        c.algorithms = ["HS256"]
        c.issuer = "joe"
        let clock = ManualClock(1_300_819_380 - 60)
        let a = JWTAuthorizer.compile(c, environment: JWTFixtures.environment(nil), clock: clock.clock)
        let d = try JWTFixtures.decide(a, JWTFixtures.request([("Authorization", token)]))  // bare token, no Bearer
        let id = try #require(d.identity, "\(d.refusal?.reason ?? "")")
        #expect(id.claims["http://example.com/is_root"] == "true")
        #expect(id.claims["iss"] == "joe")
        clock.set(1_300_819_380)
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(token + "x")).refusal != nil)
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(token)).refusal?.reason == "Token expired")
    }

    @Test(arguments: [
        "rfc7520/jws/4_1.rsa_v15_signature.json", "rfc7520/jws/4_2.rsa-pss_signature.json",
        "rfc7520/jws/4_3.ecdsa_signature.json", "rfc7520/jws/4_4.hmac-sha2_integrity_protection.json",
        "rfc8037-curve25519/jws.json",
    ])
    func cookbook(path: String) throws {
        guard let vector = try Self.load(path) else {
            Issue.record("vector \(path) not found under \(JWTFixtures.vectorsDirectory.path) (expected ../shared/vectors beside the clone)")
            return
        }
        let input = try #require(vector["input"] as? [String: Any])
        let output = try #require(vector["output"] as? [String: Any])
        let compact = try #require(output["compact"] as? String)
        let jwk = try #require(input["key"] as? [String: Any])
        let key: VerificationKey
        if jwk["kty"] as? String == "oct" {
            let kText = try #require(jwk["k"] as? String)
            let k = try #require(Base64URL.decode(kText))
            key = VerificationKey.secret(k, algorithms: [.HS256])
        } else {
            // Through our JWK Set parser (private members such as d are ignored).
            let doc = try JSONSerialization.data(withJSONObject: ["keys": [jwk]])
            let set = try JWKSet.parse([UInt8](doc))
            key = try #require(set.keys.first)
            #expect(key.keyID == jwk["kid"] as? String)
        }
        let jws = try CompactJWS.parse(compact, payloadIsJSON: false).get()
        #expect(jws.header.algorithm.rawValue == input["alg"] as? String)
        #expect(String(decoding: jws.payload, as: UTF8.self) == input["payload"] as? String)
        #expect(key.fits(jws.header.algorithm))
        #expect(key.verify(jws))
        // One changed payload byte breaks it.
        let parts = compact.split(separator: ".").map(String.init)
        var payload = jws.payload
        payload[0] ^= 1
        let altered = try CompactJWS.parse(parts[0] + "." + Base64URL.encode(payload) + "." + parts[2], payloadIsJSON: false).get()
        #expect(!key.verify(altered))
    }
}
