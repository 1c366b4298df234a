import Foundation
import Logging
import NIOCore
import NIOEmbedded
import PortcullisCore
import Testing

@testable import PortcullisAuth
@testable import PortcullisConfig

/// Shared by the JWT tests: tokens minted by PyJWT once per test process, requests, configs.
enum JWTFixtures {
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var vectorsDirectory: URL {
        repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/vectors")
    }

    static var fixturesDirectory: URL {
        repositoryRoot.appendingPathComponent("Tests/PortcullisAuthTests/Fixtures")
    }

    /// The instant the tokens were minted for (their iat/exp are relative to it); tests run
    /// the verifier at this time on a manual clock, so wall time never matters.
    static let now: Double = 1_800_000_000

    struct Token {
        let name: String
        let token: String
        let allow: Bool
        let reason: String?
    }

    struct Minted {
        let issuer: String
        let audience: String
        let secret: String
        let jwks: [UInt8]
        /// kid → the public JWK as JSON text.
        let jwk: [String: String]
        let publicPEM: [String: String]
        let privatePEM: [String: String]
        let tokens: [Token]

        /// A key set document with the keys of `kids`, in that order.
        func jwks(_ kids: [String]) -> String {
            "{\"keys\":[" + kids.compactMap { jwk[$0] }.joined(separator: ",") + "]}"
        }

        func token(_ name: String) -> String {
            guard let t = tokens.first(where: { $0.name == name }) else { fatalError("no fixture token \(name)") }
            return t.token
        }
    }

    /// Runs Fixtures/make_tokens.py once; the failure text says what to install.
    static let minted: Result<Minted, FixtureError> = mint()

    struct FixtureError: Error, CustomStringConvertible {
        let description: String
    }

    static func get() throws -> Minted {
        switch minted {
        case .success(let m): return m
        case .failure(let e):
            Issue.record("\(e)")
            throw e
        }
    }

    private static func jwkTexts(_ keys: [[String: Any]]) -> [String: String] {
        var out: [String: String] = [:]
        for k in keys {
            guard let kid = k["kid"] as? String, let data = try? JSONSerialization.data(withJSONObject: k) else { continue }
            out[kid] = String(decoding: data, as: UTF8.self)
        }
        return out
    }

    private static func mint() -> Result<Minted, FixtureError> {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-jwt-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", fixturesDirectory.appendingPathComponent("make_tokens.py").path, dir.path, String(Int(now))]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            return .failure(FixtureError(description: "python3 could not be started (\(error)); install python3 and run pip install -r Tests/requirements.txt"))
        }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            return .failure(FixtureError(description: """
                make_tokens.py failed (exit \(process.terminationStatus)); it needs python3 with PyJWT and cryptography: \
                pip install -r Tests/requirements.txt
                \(String(decoding: output, as: UTF8.self))
                """))
        }
        guard let data = try? Data(contentsOf: dir.appendingPathComponent("tokens.json")),
            let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let jwks = doc["jwks"] as? [String: Any],
            let list = doc["tokens"] as? [[String: Any]]
        else { return .failure(FixtureError(description: "make_tokens.py wrote no readable tokens.json")) }
        let jwksData = (try? JSONSerialization.data(withJSONObject: jwks)) ?? Data()
        return .success(Minted(
            issuer: doc["issuer"] as? String ?? "", audience: doc["audience"] as? String ?? "", secret: doc["secret"] as? String ?? "",
            jwks: [UInt8](jwksData), jwk: jwkTexts(jwks["keys"] as? [[String: Any]] ?? []),
            publicPEM: doc["public_pem"] as? [String: String] ?? [:], privatePEM: doc["private_pem"] as? [String: String] ?? [:],
            tokens: list.map {
                Token(name: $0["name"] as? String ?? "", token: $0["token"] as? String ?? "", allow: ($0["expect"] as? String) == "allow",
                    reason: $0["reason"] as? String)
            }))
    }

    // MARK: Configs and authorizers

    static func config(_ name: String = "test", source: JWTAuthorizerConfig.KeySource, _ edit: (inout JWTAuthorizerConfig) -> Void = { _ in }) -> JWTAuthorizerConfig {
        var c = JWTAuthorizerConfig(name: name, keySource: source)
        c.algorithms = JWTAlgorithm.asymmetric.map(\.rawValue)
        if case .secret = source { c.algorithms = ["HS256", "HS384", "HS512"] }
        edit(&c)
        return c
    }

    /// An authorizer over the minted key set (or secret), checking the minted issuer and audience.
    static func authorizer(
        _ m: Minted, secret: Bool = false, clock: ManualClock = ManualClock(now), group: (any EventLoopGroup)? = nil,
        _ edit: (inout JWTAuthorizerConfig) -> Void = { _ in }
    ) -> JWTAuthorizer {
        let source: JWTAuthorizerConfig.KeySource = secret ? .secret(Array(m.secret.utf8)) : .jwksDocument(path: "minted", contents: m.jwks)
        let c = config(source: source) {
            $0.issuer = m.issuer
            $0.audiences = [m.audience]
            $0.tokenUse = ["id", "access"]
            edit(&$0)
        }
        return JWTAuthorizer.compile(c, environment: environment(group), clock: clock.clock)
    }

    static func environment(_ group: (any EventLoopGroup)?) -> AuthEnvironment {
        AuthEnvironment(group: group, logger: Logger(label: "test"), online: group != nil)
    }

    // MARK: Requests

    static func request(_ headers: [(String, String)] = [], target: String = "/demo/x") -> AuthRequest {
        var text = "GET \(target) HTTP/1.1\r\nHost: a\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        text += "\r\n"
        var fields: [HeaderField] = []
        // No line limit: these requests reach the authorizer directly, whose own limits are under
        // test (a token over CompactJWS.maxTokenBytes makes a line longer than the gateway's default).
        let limits = HeadLimits(maxFieldLineBytes: .max)
        let head = try! HeadParser.parseRequest(ByteBuffer(string: text), limits: limits, reusing: &fields)
        return AuthRequest(
            head: head, clientIP: IPAddress("127.0.0.1"), requestID: "r", resourcePath: "/x", pathParameters: [],
            api: .init(id: "abc", stage: "demo", region: "eu-west-1", account: "123456789012"))
    }

    static func bearer(_ token: String) -> AuthRequest { request([("Authorization", "Bearer \(token)")]) }

    /// Runs a step to its decision on `loop` (as the proxy does: on the request's loop).
    static func decide(
        _ a: JWTAuthorizer, _ request: AuthRequest, route: RouteAuthPolicy = .none, on loop: any EventLoop = EmbeddedEventLoop()
    ) throws -> AuthDecision {
        if let embedded = loop as? EmbeddedEventLoop {
            switch a.evaluate(request, route: route, on: embedded) {
            case .now(let d): return d
            case .later(let f):
                embedded.run()
                return try f.wait()
            }
        }
        return try loop.flatSubmit {
            switch a.evaluate(request, route: route, on: loop) {
            case .now(let d): return loop.makeSucceededFuture(d)
            case .later(let f): return f
            }
        }.wait()
    }
}

extension AuthDecision {
    var isAllow: Bool {
        if case .allow = self { return true }
        return false
    }

    /// The refusal a client would see: a refusal's, or an abstention's when nothing else ran.
    var refusal: Refusal? {
        switch self {
        case .refuse(let r), .abstain(let r): return r
        case .allow: return nil
        }
    }

    var isAbstain: Bool {
        if case .abstain = self { return true }
        return false
    }

    var identity: Identity? {
        if case .allow(let id) = self { return id }
        return nil
    }
}
