import NIOCore
import PortcullisConfig
import PortcullisCore
import Testing

@testable import PortcullisAuth

/// The verified-request cache of a SigV4 authorizer: a repeated request is not verified again,
/// but its time still is; any other byte misses; a reload's new step starts empty.
@Suite struct SigV4CacheTests {
    static let secret = "cache-test-secret-0123456789abcdefghij"
    static let signedAt: Int64 = 1_767_225_600  // 2026-01-01T00:00:00Z

    static func step(_ clock: ManualClock, active: Bool = true) -> SigV4Step {
        let key = SigV4Credential(accessKeyID: "AKIACACHE", secret: secret, principalARN: "arn:aws:iam::123456789012:user/c", active: active)
        return SigV4Step(name: "iam", verifier: SigV4Verifier(credentials: [key], maxSkewSeconds: 300), clock: JWTClock { clock.now })
    }

    static func request(_ target: String, _ headers: [(String, String)]) -> AuthRequest {
        var text = "GET \(target) HTTP/1.1\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        var fields: [HeaderField] = []
        let head = try! HeadParser.parseRequest(ByteBuffer(string: text + "\r\n"), limits: HeadLimits(), reusing: &fields)
        return AuthRequest(
            head: head, clientIP: IPAddress("127.0.0.1"), requestID: "r", resourcePath: "/x", pathParameters: [],
            api: .init(id: "abc", stage: "dev", region: "eu-west-1", account: "123456789012"))
    }

    static func allowed(_ d: AuthDecision) -> Bool { if case .allow = d { return true } else { return false } }

    @Test func repeatedPresignedURLHitsAndStillExpires() {
        let clock = ManualClock(Double(Self.signedAt))
        let step = Self.step(clock)
        let signer = SigV4Signer(accessKeyID: "AKIACACHE", secret: Self.secret, region: "eu-west-1")
        let target = signer.presignedTarget(for: .init(method: "GET", host: "h", target: "/dev/x"), time: Self.signedAt, expires: 60)
        let r = Self.request(target, [("Host", "h")])
        #expect(Self.allowed(step.decide(r)))
        #expect(step.recent.lookup(VerifiedRequests.key(r.head, region: "eu-west-1", payloadHash: SigV4.emptyPayloadHash)!, now: Self.signedAt, on: nil) != nil)
        clock.advance(by: 60)
        #expect(Self.allowed(step.decide(r)))  // the last second of its lifetime
        clock.advance(by: 1)
        guard case .refuse(let late) = step.decide(r) else {
            Issue.record("an expired presigned URL must be refused, cached or not")
            return
        }
        #expect(late.message?.hasPrefix("Signature expired") == true)
        // One byte else (the Host) is another request: verified afresh, and refused.
        clock.set(Double(Self.signedAt))
        #expect(!Self.allowed(step.decide(Self.request(target, [("Host", "g")]))))
        // A refused request is never remembered.
        #expect(!Self.allowed(step.decide(Self.request(target, [("Host", "g")]))))
    }

    @Test func headerSignedRequestWindowIsTheSkew() {
        let clock = ManualClock(Double(Self.signedAt))
        let step = Self.step(clock)
        let signer = SigV4Signer(accessKeyID: "AKIACACHE", secret: Self.secret, region: "eu-west-1")
        let signedHeaders = signer.headers(for: .init(method: "GET", host: "h", target: "/dev/x"), time: Self.signedAt)
        let r = Self.request("/dev/x", signedHeaders.contains { $0.0.lowercased() == "host" } ? signedHeaders : [("Host", "h")] + signedHeaders)
        #expect(Self.allowed(step.decide(r)))
        clock.advance(by: 300)
        #expect(Self.allowed(step.decide(r)))
        clock.advance(by: 1)
        #expect(!Self.allowed(step.decide(r)))
        // A new snapshot's step (a key made inactive) knows nothing of the old cache.
        clock.set(Double(Self.signedAt))
        #expect(!Self.allowed(Self.step(clock, active: false).decide(r)))
    }
}
