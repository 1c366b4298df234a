import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import PortcullisProxy

/// `portcullis echo`: the demo/test/benchmark upstream.
struct Echo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a fast HTTP/1.1 echo upstream (JSON description of each request).")

    @Option(help: "HOST:PORT to listen on.")
    var listen: String = "127.0.0.1:9001"

    @Option(help: "Event loops (default: one).")
    var threads: Int = 1

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT")
        }
        let host = String(listen[..<colon]).trimmingCharacters(in: ["[", "]"])
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let channel = try await EchoServer.bind(host: host, port: port, group: group)
        print("portcullis echo listening on \(channel.localAddress.map { "\($0)" } ?? listen)")
        try await channel.closeFuture.get()
    }
}
