import Foundation
import PortcullisCore
import PortcullisTLS
import Testing

@testable import PortcullisAuth
@testable import PortcullisConfig

/// Tokens made by PyJWT (an independent implementation) for every algorithm we accept, and the
/// refusals of properly minted but unacceptable tokens.
@Suite("JWT: tokens from PyJWT")
struct JWTInteropTests {
    static let algorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"]

    @Test(arguments: algorithms)
    func acceptsEveryAlgorithm(alg: String) throws {
        let m = try JWTFixtures.get()
        let a = JWTFixtures.authorizer(m, secret: alg.hasPrefix("HS"))
        let d = try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-\(alg)")))
        let id = try #require(d.identity, "valid-\(alg) refused: \(d.refusal?.reason ?? "")")
        #expect(id.principal == "user-1")
        #expect(id.authorizer == "test")
        #expect(id.claims["cognito:groups"] == "admin,users")
        #expect(id.claims["email"] == "ana@example.com")
        #expect(id.claims["exp"] == String(Int(JWTFixtures.now) + 600))
    }

    @Test func everyMintedCaseHasItsOutcome() throws {
        let m = try JWTFixtures.get()
        #expect(m.tokens.count >= 30)
        for t in m.tokens where !t.name.hasPrefix("valid-HS") {
            let d = try JWTFixtures.decide(JWTFixtures.authorizer(m), JWTFixtures.bearer(t.token))
            if t.allow {
                #expect(d.isAllow, "\(t.name): \(d.refusal?.reason ?? "")")
            } else {
                let r = try #require(d.refusal, "\(t.name) was allowed")
                #expect(r.reason == t.reason, "\(t.name)")
                #expect(r.type == .UNAUTHORIZED, "\(t.name)")
                #expect(r.message == "Unauthorized")
                let challenge = r.headers.first { $0.0 == "WWW-Authenticate" }?.1 ?? ""
                #expect(challenge.hasPrefix("Bearer error=\"invalid_token\", error_description=\""), "\(t.name): \(challenge)")
            }
        }
    }

    @Test func hmacTokensNeedTheSecret() throws {
        let m = try JWTFixtures.get()
        // The key-set authorizer has no secret: HS256 is outside its allow-list.
        let d = try JWTFixtures.decide(JWTFixtures.authorizer(m), JWTFixtures.bearer(m.token("valid-HS256")))
        #expect(d.refusal?.reason == "Algorithm HS256 not allowed")
        // The secret authorizer cannot check an RS256 token.
        let d2 = try JWTFixtures.decide(JWTFixtures.authorizer(m, secret: true), JWTFixtures.bearer(m.token("valid-RS256")))
        #expect(d2.refusal?.reason == "Algorithm RS256 not allowed")
        // A different secret of the right length: bad signature.
        let other = JWTAuthorizer.compile(
            JWTFixtures.config(source: .secret(Array(String(repeating: "k", count: 64).utf8))),
            environment: JWTFixtures.environment(nil), clock: ManualClock(JWTFixtures.now).clock)
        let d3 = try JWTFixtures.decide(other, JWTFixtures.bearer(m.token("valid-HS256")))
        #expect(d3.refusal?.reason == "Invalid signature")
    }

    @Test func rsaKeyNeverServesAsHMACSecret() throws {
        let m = try JWTFixtures.get()
        let key = try PublicKey(pem: m.publicPEM["rsa"]!)
        let vk = VerificationKey(keyID: "rsa", algorithm: nil, material: .publicKey(key))
        for alg in [JWTAlgorithm.HS256, .HS384, .HS512, .ES256, .EdDSA] { #expect(!vk.fits(alg)) }
        for alg in [JWTAlgorithm.RS256, .PS512] { #expect(vk.fits(alg)) }
        // And a JWK alg pins the key to that one algorithm.
        let pinned = VerificationKey(keyID: "rsa", algorithm: .RS256, material: .publicKey(key))
        #expect(pinned.fits(JWTAlgorithm.RS256))
        #expect(!pinned.fits(JWTAlgorithm.PS256))
        #expect(!pinned.fits(JWTAlgorithm.RS512))
    }

    @Test func publicKeyPEMSource() throws {
        let m = try JWTFixtures.get()
        let c = JWTFixtures.config(source: .publicKeyPEM(path: "p384.pem", pem: m.publicPEM["p384"]!))
        let a = JWTAuthorizer.compile(c, environment: JWTFixtures.environment(nil), clock: ManualClock(JWTFixtures.now).clock)
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-ES384"))).isAllow)
        // A P-256 token does not fit a P-384 key: no key for it.
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("valid-ES256"))).refusal?.reason == "Unknown kid p256")
    }

    @Test func leewayToleratesSkew() throws {
        let m = try JWTFixtures.get()
        let a = JWTFixtures.authorizer(m) { $0.leeway = .seconds(180) }
        #expect(try JWTFixtures.decide(a, JWTFixtures.bearer(m.token("expired"))).isAllow)  // 120 s late
        let strict = JWTFixtures.authorizer(m) { $0.requireExp = false }
        #expect(try JWTFixtures.decide(strict, JWTFixtures.bearer(m.token("no-exp"))).isAllow)
    }
}
