import Foundation
import Logging
import NIOCore
import NIOPosix
import PortcullisAuth
import PortcullisConfig

@testable import PortcullisProxy

/// A real gateway and echo upstream on 127.0.0.1 with ports chosen by the kernel.
final class Harness {
    let echoGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var echo: (any Channel)?
    var server: PortcullisServer!
    let dir: URL
    let configPath: String
    var echoPort = 0
    var port: Int { server.boundAddresses["public"]!.port! }

    /// `yaml` may use `${ECHO}` for the echo upstream's address and `${DEAD}` for a closed port.
    init(
        _ yaml: String, startEcho: Bool = true, workers: Int = 1, externalAuthorizers: ExternalAuthorizerRegistry = ExternalAuthorizerRegistry()
    ) async throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        configPath = dir.appendingPathComponent("portcullis.yaml").path
        if startEcho {
            let ch = try await EchoServer.bind(host: "127.0.0.1", port: 0, group: echoGroup)
            echo = ch
            echoPort = ch.localAddress!.port!
        }
        try write(yaml)
        let config = try ConfigLoader.load(path: configPath, environment: env)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        server = try PortcullisServer(config: config, logger: logger, externalAuthorizers: externalAuthorizers)
        try server.start()
    }

    lazy var deadPort: Int = {
        // A port nobody listens on: bind, read the port, close.
        let s = try! ServerBootstrap(group: echoGroup).bind(host: "127.0.0.1", port: 0).wait()
        let p = s.localAddress!.port!
        try! s.close().wait()
        return p
    }()

    var env: [String: String] { ["ECHO": "127.0.0.1:\(echoPort)", "DEAD": "127.0.0.1:\(deadPort)"] }

    func write(_ yaml: String) throws {
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func reload(_ yaml: String) throws {
        try write(yaml)
        try server.reload(try ConfigLoader.load(path: configPath, environment: env))
    }

    func connect() throws -> RawConnection { try RawConnection(port: port) }

    /// One request on a new connection.
    func get(_ path: String, headers: [String: String] = [:], method: String = "GET") throws -> RawResponse {
        let c = try connect()
        var req = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        for (k, v) in headers { req += "\(k): \(v)\r\n" }
        c.send(req + "\r\n")
        return try c.readResponse(head: method == "HEAD")
    }

    func stop() async {
        await server.shutdown(grace: .seconds(1))
        try? await echo?.close()
        try? await echoGroup.shutdownGracefully()
        try? FileManager.default.removeItem(at: dir)
    }
}
