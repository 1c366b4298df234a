import ArgumentParser
import Foundation
import PortcullisConfig
import PortcullisProxy

/// `portcullis explain`: which route a request matches, each admission phase's decision and
/// why, and the answer, by the server's own code, without forwarding anything.
struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain what the gateway would do with one request: route, phases, decisions and answer.",
        discussion: """
            Runs the config's compiled routes and admission phases (the server's own code) on one
            request, prints each phase's decision with its reason, and the answer: the gateway
            response with its type and body, or the upstream request an admitted one would make.
            Nothing is forwarded. Remote key sets and external authorizers are called only with
            --online; otherwise a phase that needs them leaves the request undecided.

            Exit status: 0 admitted, 1 refused, 2 config errors, 3 undecided offline, 64 bad arguments.

            Example:
              portcullis explain -c config/portcullis.yaml --from 192.0.2.7 GET /demo/internal
            """)

    @Option(name: .shortAndLong, help: "The config file.")
    var config: String = "config/portcullis.yaml"
    @Option(name: .customShort("H"), help: "A request header, 'Name: value'. Repeatable.")
    var header: [String] = []
    @Option(help: "The client address.")
    var from: String = "127.0.0.1"
    @Option(help: "The listener the request arrives on (default: the one on the URL's port, else the first).")
    var listener: String?
    @Option(help: "A request body (SigV4 signs its hash).")
    var data: String?
    @Flag(help: "Fetch remote key sets and call external authorizers.")
    var online = false
    @Flag(help: "Print JSON.")
    var json = false
    @Argument(help: "The method, like GET.")
    var method: String
    @Argument(help: "http://host:port/path?query, or a path.")
    var url: String

    func validate() throws {
        for h in header where !h.contains(":") { throw ValidationError("-H takes 'Name: value', not \"\(h)\"") }
    }

    func run() throws {
        let loaded = try loadChecked(config, exitCode: 2) { testFailed(config, $0) }
        let headers = header.map { h -> (String, String) in
            let colon = h.firstIndex(of: ":")!
            return (String(h[..<colon]).trimmingCharacters(in: .whitespaces), String(h[h.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        let request = ExplainRequest(
            method: method, url: url, headers: headers, from: from, listener: listener, body: data.map { Array($0.utf8) }, online: online)
        let explanation: Explanation
        do {
            explanation = try Explainer.explain(loaded, request)
        } catch let e as ExplainError {
            printError("portcullis: \(e)")
            throw ExitCode(64)
        } catch let e as ConfigError {
            printError(e.description)
            throw ExitCode(2)
        }
        print(json ? explanation.json : explanation.text)
        if explanation.exitCode != 0 { throw ExitCode(explanation.exitCode) }
    }
}
