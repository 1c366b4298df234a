import ArgumentParser

@main
struct Portcullis: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "portcullis",
        abstract: "An API-gateway sidecar with Amazon API Gateway's security model.",
        subcommands: [Run.self, Check.self, Explain.self, Reload.self, Echo.self, Token.self, Sign.self, Policy.self, Keys.self, Version.self]
    )
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("portcullis \(Portcullis.version)") }
}
