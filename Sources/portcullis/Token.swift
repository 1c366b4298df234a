import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import PortcullisAuth
import PortcullisConfig
import PortcullisCore
import PortcullisTLS

/// `portcullis token`: the workshop's jwt.io step without leaving the terminal.
struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mint and inspect JSON Web Tokens.", subcommands: [TokenMint.self, TokenInspect.self])
}

/// `portcullis token mint`: a signed JWT from flags.
struct TokenMint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mint",
        abstract: "Mint a signed JWT: HS256/384/512 with a secret, RS*/PS*/ES*/EdDSA with a PEM private key.",
        discussion: """
            Examples:
              portcullis token mint --secret-file config/secrets/part4-lab.key --iss portcullis-lab --aud workshop --sub alice --claim role=admin
              portcullis token mint --key private.pem --alg PS256 --kid key-1 --sub bob --scope "items/read" --ttl 15m
            """)

    @Option(help: "Algorithm (default: HS256 with a secret; RS256, ES256/384/512 or EdDSA from the key).")
    var alg: String?
    @Option(help: "HMAC secret as text.")
    var secret: String?
    @Option(name: .customLong("secret-file"), help: "File holding the HMAC secret (one trailing newline is ignored).")
    var secretFile: String?
    @Option(help: "PEM private key file for RS*, PS*, ES* and EdDSA.")
    var key: String?
    @Option(help: "Key id (kid header).")
    var kid: String?
    @Option(help: "Issuer (iss).")
    var iss: String?
    @Option(help: "Subject (sub).")
    var sub: String?
    @Option(help: "Audience (aud); repeat for several.")
    var aud: [String] = []
    @Option(help: "Space-separated scopes (scope).")
    var scope: String?
    @Option(name: .customLong("token-use"), help: "Cognito token_use (id or access).")
    var tokenUse: String?
    @Option(name: .customLong("claim"), help: "NAME=VALUE; VALUE is JSON when it parses as JSON (42, true, [\"a\"]), else a string. Repeatable.")
    var claims: [String] = []
    @Option(help: "Lifetime: exp = now + TTL (like 30s, 15m, 1h).")
    var ttl: String = "1h"
    @Flag(name: .customLong("no-exp"), help: "Leave exp out (refused by default by Portcullis).")
    var noExp = false

    func run() throws {
        var payload: [String: JSONValue] = [:]
        let now = Int(Date().timeIntervalSince1970)
        payload["iat"] = .number(Double(now))
        if !noExp {
            guard let seconds = parseSeconds(ttl) else { throw ValidationError("--ttl: write it like 30s, 15m or 1h") }
            payload["exp"] = .number(Double(now + seconds))
        }
        if let iss { payload["iss"] = .string(iss) }
        if let sub { payload["sub"] = .string(sub) }
        if aud.count == 1 { payload["aud"] = .string(aud[0]) } else if !aud.isEmpty { payload["aud"] = .array(aud.map { .string($0) }) }
        if let scope { payload["scope"] = .string(scope) }
        if let tokenUse { payload["token_use"] = .string(tokenUse) }
        for c in claims {
            guard let eq = c.firstIndex(of: "="), eq != c.startIndex else { throw ValidationError("--claim \(c): write NAME=VALUE") }
            let value = String(c[c.index(after: eq)...])
            payload[String(c[..<eq])] = (try? JSONValue.parse(value)) ?? .string(value)
        }

        let signer = try makeSigner()
        var header: [String: JSONValue] = ["alg": .string(signer.alg.rawValue), "typ": .string("JWT")]
        if let kid { header["kid"] = .string(kid) }
        let input = Base64URL.encode(Array(JSONValue.object(header).serialized.utf8)) + "." + Base64URL.encode(Array(JSONValue.object(payload).serialized.utf8))
        print(input + "." + Base64URL.encode(try signer.sign(Array(input.utf8))))
    }

    struct Signer {
        let alg: JWTAlgorithm
        let sign: ([UInt8]) throws -> [UInt8]
    }

    func makeSigner() throws -> Signer {
        let named = try alg.map { name -> JWTAlgorithm in
            guard let a = JWTAlgorithm(rawValue: name) else {
                throw ValidationError("unknown --alg \(name); one of \(JWTAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return a
        }
        if secret != nil || secretFile != nil {
            guard key == nil else { throw ValidationError("give --secret/--secret-file or --key, not both") }
            var bytes: [UInt8]
            if let secret { bytes = Array(secret.utf8) } else {
                guard let data = FileManager.default.contents(atPath: secretFile!) else { throw ValidationError("cannot read \(secretFile!)") }
                bytes = [UInt8](data)
                if bytes.last == 10 { bytes.removeLast() }
                if bytes.last == 13 { bytes.removeLast() }
            }
            let a = named ?? .HS256
            guard let digest = a.hmacDigest else { throw ValidationError("\(a.rawValue) signs with a private key (--key), not a secret") }
            if bytes.count < digest.outputSize {
                printError("portcullis: warning: a \(bytes.count)-byte secret is shorter than \(a.rawValue) requires (\(digest.outputSize)); Portcullis will refuse it in a config")
            }
            let mac = HMACKey(algorithm: digest, key: bytes)
            return Signer(alg: a) { mac.authenticationCode(for: $0) }
        }
        guard let key else { throw ValidationError("give --secret, --secret-file or --key") }
        guard let pem = try? String(contentsOfFile: key, encoding: .utf8) else { throw ValidationError("cannot read \(key)") }
        let privateKey = try PrivateKey(pem: pem)
        let a: JWTAlgorithm
        if let named { a = named } else {
            switch privateKey.kind {
            case .rsa: a = .RS256
            case .ec(.p256): a = .ES256
            case .ec(.p384): a = .ES384
            case .ec(.p521): a = .ES512
            case .ed25519: a = .EdDSA
            }
        }
        guard let scheme = a.signature else { throw ValidationError("\(a.rawValue) needs --secret or --secret-file") }
        return Signer(alg: a) { try privateKey.sign(message: $0, algorithm: scheme) }
    }
}

/// `portcullis token inspect`: decode a token, and with a config verify it as an authorizer would.
struct TokenInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Decode a JWT; with --config and --authorizer, verify it as that authorizer does (exit 1 if refused).")

    @Option(name: .shortAndLong, help: "A config file.")
    var config: String?
    @Option(help: "The name of a jwt authorizer in the config.")
    var authorizer: String?
    @Argument(help: "The token (\"-\" reads it from standard input; a Bearer prefix is ignored).")
    var token: String

    func run() throws {
        var text = token == "-" ? (readLine(strippingNewline: true) ?? "") : token
        text = text.trimmingCharacters(in: .whitespaces)
        if text.lowercased().hasPrefix("bearer ") { text = String(text.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
        printDecoded(text)
        guard let config else {
            print("signature: not checked (give --config and --authorizer)")
            return
        }
        guard let authorizer else { throw ValidationError("--authorizer NAME is needed with --config") }
        let loaded: PortcullisConfig
        do {
            loaded = try ConfigLoader.load(path: config)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        guard let entry = loaded.authorizers[authorizer] else {
            throw ValidationError("no authorizer \(authorizer) in \(config); it has: \(loaded.authorizers.keys.sorted().joined(separator: ", "))")
        }
        guard case .jwt(let jwtConfig) = entry.kind else { throw ValidationError("\(authorizer) is not a jwt authorizer") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        var logger = Logger(label: "portcullis.token")
        logger.logLevel = .warning
        let compiled = JWTAuthorizer.compile(jwtConfig, environment: AuthEnvironment(group: group, logger: logger, online: true))
        let loop = group.next()
        let result: Result<VerifiedToken, JWTFailure>
        switch compiled.verify(text, now: JWTClock.system.now(), on: loop) {
        case .now(let r): result = r
        case .later(let f): result = try f.wait()
        }
        switch result {
        case .success(let v):
            print("verdict: valid for \(authorizer) (principal \(v.identity.principal.isEmpty ? "-" : v.identity.principal))")
            if compiled.cognito {
                print("note: Cognito rules: routes without scopes take ID tokens, routes with scopes access tokens")
            }
        case .failure(let f):
            let r = f.refusal
            print("verdict: refused by \(authorizer): \(f.reason) (\(r.type.defaultStatus) \(r.type.rawValue))")
            throw ExitCode(1)
        }
    }

    func printDecoded(_ t: String) {
        let parts = t.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            print("not a compact JWS (\(parts.count) parts)")
            return
        }
        for (label, part) in [("header", parts[0]), ("claims", parts[1])] {
            if let bytes = Base64URL.decode(part), let json = try? JSONSerialization.jsonObject(with: Data(bytes)),
                let pretty = try? JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
            {
                print("\(label): \(String(decoding: pretty, as: UTF8.self))")
            } else {
                print("\(label): (not base64url JSON)")
            }
        }
        if let bytes = Base64URL.decode(parts[1]), let claims = try? JSONValue.parse(bytes) {
            let now = Date().timeIntervalSince1970
            for name in ["iat", "nbf", "exp"] {
                guard let t = claims[name]?.numberValue else { continue }
                let delta = Int(t - now)
                let when = delta >= 0 ? "in \(delta)s" : "\(-delta)s ago"
                print("\(name): \(Date(timeIntervalSince1970: t)) (\(when))")
            }
        }
    }
}

/// `30s`, `15m`, `1h`, `2d` or a number of seconds.
func parseSeconds(_ s: String) -> Int? {
    let units: [(String, Int)] = [("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
    for (suffix, mult) in units where s.hasSuffix(suffix) {
        return Int(s.dropLast()).map { $0 * mult }
    }
    return Int(s)
}
