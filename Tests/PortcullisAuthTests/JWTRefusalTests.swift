import Foundation
import PortcullisCore
import PortcullisTLS
import Testing

@testable import PortcullisAuth
@testable import PortcullisConfig

/// Tokens that must be refused, crafted here where a library would refuse to make them
/// (the PyJWT-made forgeries are in JWTInteropTests.everyMintedCaseHasItsOutcome).
@Suite("JWT: refusals")
struct JWTRefusalTests {
    static func b64(_ s: String) -> String { Base64URL.encode(Array(s.utf8)) }

    static func claims(_ m: JWTFixtures.Minted) -> String {
        "{\"iss\":\"\(m.issuer)\",\"aud\":\"\(m.audience)\",\"sub\":\"user-1\",\"token_use\":\"id\",\"exp\":\(Int(JWTFixtures.now) + 600)}"
    }

    /// Signs `header.payload` (JSON texts) with a minted private key.
    static func craft(_ m: JWTFixtures.Minted, header: String, payload: String, key: String, alg: SignatureAlgorithm) throws -> String {
        let input = b64(header) + "." + b64(payload)
        let k = try PrivateKey(pem: m.privatePEM[key]!)
        return input + "." + Base64URL.encode(try k.sign(message: Array(input.utf8), algorithm: alg))
    }

    func reason(_ token: String) throws -> String? {
        let m = try JWTFixtures.get()
        return try JWTFixtures.decide(JWTFixtures.authorizer(m), JWTFixtures.bearer(token)).refusal?.reason
    }

    @Test func craftedValidTokenPasses() throws {
        let m = try JWTFixtures.get()
        let t = try Self.craft(m, header: "{\"alg\":\"ES256\",\"kid\":\"p256\"}", payload: Self.claims(m), key: "p256", alg: .ecdsa(.sha256))
        #expect(try reason(t) == nil)
    }

    @Test func ecdsaZeroSignature() throws {
        let m = try JWTFixtures.get()
        let input = Self.b64("{\"alg\":\"ES256\",\"kid\":\"p256\"}") + "." + Self.b64(Self.claims(m))
        let zero = Base64URL.encode([UInt8](repeating: 0, count: 64))
        #expect(try reason(input + "." + zero) == "Invalid signature")
        // r = s = n (the group order) is as invalid as zero.
        let es512 = Self.b64("{\"alg\":\"ES512\",\"kid\":\"p521\"}") + "." + Self.b64(Self.claims(m))
        #expect(try reason(es512 + "." + Base64URL.encode([UInt8](repeating: 0, count: 132))) == "Invalid signature")
        // A signature of the wrong length.
        #expect(try reason(input + "." + Base64URL.encode([UInt8](repeating: 1, count: 63))) == "Invalid signature")
    }

    @Test func unknownCriticalHeader() throws {
        let m = try JWTFixtures.get()
        let t = try Self.craft(
            m, header: "{\"alg\":\"RS256\",\"kid\":\"rsa\",\"crit\":[\"urn:example:x\"],\"urn:example:x\":1}", payload: Self.claims(m),
            key: "rsa", alg: .rsaPKCS1v15(.sha256))
        #expect(try reason(t) == "Unsupported critical header parameter urn:example:x")
        let empty = try Self.craft(m, header: "{\"alg\":\"RS256\",\"kid\":\"rsa\",\"crit\":[]}", payload: Self.claims(m), key: "rsa", alg: .rsaPKCS1v15(.sha256))
        #expect(try reason(empty) == "Invalid crit header")
    }

    @Test func oversizedToken() throws {
        let big = "eyJhbGciOiJSUzI1NiJ9." + String(repeating: "A", count: 64 * 1024) + ".c2ln"
        #expect(try reason(big) == "Token too large (\(big.utf8.count) bytes)")
    }

    @Test func invalidBase64URL() throws {
        let m = try JWTFixtures.get()
        let (h, p, s) = try split(m.token("valid-RS256"))
        #expect(try reason("eyJ*bGciOiJSUzI1NiJ9.\(p).\(s)") == "Token header is not base64url")
        #expect(try reason("\(h).\(p)=.\(s)") == "Token payload is not base64url")  // padding is not base64url
        #expect(try reason("\(h).\(p).\(s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/"))+") == "Token signature is not base64url")
        // Non-zero unused bits: a second spelling of the same bytes must not verify.
        #expect(Base64URL.decode("QQ") == [0x41])
        #expect(Base64URL.decode("QR") == nil)
        #expect(Base64URL.decode("Q") == nil)
    }

    @Test func invalidJSON() throws {
        let m = try JWTFixtures.get()
        #expect(try reason(Self.b64("{alg:RS256}") + ".e30.c2ln")?.hasPrefix("Token header is not JSON") == true)
        #expect(try reason(Self.b64("[\"RS256\"]") + ".e30.c2ln") == "Token header is not a JSON object")
        #expect(try reason(Self.b64("{\"typ\":\"JWT\"}") + ".e30.c2ln") == "Token header has no alg")
        #expect(try reason(Self.b64("{\"alg\":\"XS256\"}") + ".e30.c2ln") == "Unsupported algorithm XS256")
        // The payload is checked before the signature only for syntax.
        let notJSON = try Self.craft(m, header: "{\"alg\":\"RS256\",\"kid\":\"rsa\"}", payload: "not json", key: "rsa", alg: .rsaPKCS1v15(.sha256))
        #expect(try reason(notJSON)?.hasPrefix("Token payload is not JSON") == true)
        let array = try Self.craft(m, header: "{\"alg\":\"RS256\",\"kid\":\"rsa\"}", payload: "[1]", key: "rsa", alg: .rsaPKCS1v15(.sha256))
        #expect(try reason(array) == "Token payload is not a JSON object")
        // Duplicate claims are ambiguous (which sub?): refused even when signed.
        let dup = try Self.craft(
            m, header: "{\"alg\":\"RS256\",\"kid\":\"rsa\"}", payload: "{\"sub\":\"a\",\"sub\":\"admin\",\"exp\":\(Int(JWTFixtures.now) + 60)}",
            key: "rsa", alg: .rsaPKCS1v15(.sha256))
        #expect(try reason(dup)?.contains("duplicate member") == true)
    }

    @Test func wrongShapes() throws {
        #expect(try reason("abc") == "Token is not a compact JWS")
        #expect(try reason("a.b") == "Token is not a compact JWS")
        #expect(try reason("a.b.c.d.e") == "Token has more than three parts (JWE is not accepted)")
        #expect(try reason(".e30.c2ln") == "Token has an empty header or payload")
    }

    @Test func missingTokenIsRefusedWithoutVerification() throws {
        let m = try JWTFixtures.get()
        let a = JWTFixtures.authorizer(m)
        for req in [JWTFixtures.request(), JWTFixtures.request([("Authorization", "Bearer ")]), JWTFixtures.request([("Authorization", "")])] {
            let r = try #require(try JWTFixtures.decide(a, req).refusal)
            #expect(r.type == .UNAUTHORIZED)
            #expect(r.reason == "No token in header.authorization")
            #expect(r.headers.map(\.1) == ["Bearer"])
        }
        // The same key set, never loaded (offline remote source): a missing token still gets 401, not 500.
        let remote = JWTAuthorizer.compile(
            JWTFixtures.config(source: .jwksURL("http://127.0.0.1:9/jwks.json")), environment: JWTFixtures.environment(nil))
        #expect(try JWTFixtures.decide(remote, JWTFixtures.request()).refusal?.type == .UNAUTHORIZED)
        // ...and a present token gets AUTHORIZER_FAILURE (500), not a crash or a hang.
        let r500 = try #require(try JWTFixtures.decide(remote, JWTFixtures.bearer(m.token("valid-RS256"))).refusal)
        #expect(r500.type == .AUTHORIZER_FAILURE)
        #expect(r500.type.defaultStatus == 500)
    }

    /// Every one-character change of a valid token, anywhere, is refused (never a crash, never an
    /// allow): header, payload and signature alike, for an RSA and an HMAC token.
    @Test func everySingleCharacterMutationIsRefused() throws {
        let m = try JWTFixtures.get()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ")
        var rng = SplitMix(seed: 7)
        for (name, secret) in [("valid-RS256", false), ("valid-HS256", true), ("valid-ES256", false)] {
            let a = JWTFixtures.authorizer(m, secret: secret) { $0.cacheTTL = .zero }
            let original = Array(m.token(name))
            for i in 0..<original.count {
                var mutated = original
                repeat { mutated[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))] } while mutated[i] == original[i]
                let d = try JWTFixtures.decide(a, JWTFixtures.bearer(String(mutated)))
                #expect(!d.isAllow, "\(name) with position \(i) changed was allowed")
            }
        }
    }

    /// Random bytes into the JSON reader and the compact parser: errors, never a crash.
    @Test func randomInputNeverCrashes() {
        var rng = SplitMix(seed: 11)
        let pieces: [String] = ["{", "}", "[", "]", "\"", ":", ",", "\\u", "d83d", "1e", "-", "0", "true", "null", "a", " ", "\\"]
        for _ in 0..<5000 {
            var s = ""
            for _ in 0..<Int(rng.next() % 24) { s += pieces[Int(rng.next() % UInt64(pieces.count))] }
            _ = try? JSONValue.parse(s)
            _ = CompactJWS.parse(Base64URL.encode(Array(s.utf8)) + "." + Base64URL.encode(Array(s.utf8)) + ".c2ln")
        }
    }

    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func split(_ t: String) throws -> (String, String, String) {
        let parts = t.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        try #require(parts.count == 3)
        return (parts[0], parts[1], parts[2])
    }
}
