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

    /// A socket bound to the dead port and never listening, held until `stop`: connecting to it
    /// is refused, and no other test running beside this one can be given the port (a port
    /// bound and closed again could be, and a request meant to fail at once would then wait on
    /// whatever took it).
    private var deadSocket: Int32 = -1

    lazy var deadPort: Int = {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0, "socket: \(errno)")
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        precondition(bound, "bind: \(errno)")
        deadSocket = fd
        return Int(UInt16(bigEndian: addr.sin_port))
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
        if deadSocket >= 0 { close(deadSocket) }
        try? FileManager.default.removeItem(at: dir)
    }
}
