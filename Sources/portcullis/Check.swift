import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import PortcullisConfig
import PortcullisProxy

/// `portcullis check`: validate a config and everything it references, like `nginx -t`.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a config file and everything it references; exit 1 listing every error.")

    @Option(name: .shortAndLong, help: "The config file.")
    var config: String = "config/portcullis.yaml"

    func run() throws {
        switch ConfigValidation.validate(path: config) {
        case .success(let c):
            for w in c.warnings { printError("portcullis: warning: \(w)") }
            print("portcullis: the configuration file \(config) syntax is ok")
            print("portcullis: configuration file \(config) test is successful")
        case .failure(let e):
            printError(e.description)
            printError("portcullis: configuration file \(config) test failed (\(e.issues.count) error\(e.issues.count == 1 ? "" : "s"))")
            throw ExitCode(1)
        }
    }
}

func printError(_ s: String) {
    var stderr = StandardError()
    print(s, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var s = string
        s.withUTF8 { p in _ = Glibc.write(2, p.baseAddress, p.count) }
    }
}
