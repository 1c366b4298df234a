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
        let c = try loadChecked(config, exitCode: 1) { testFailed(config, $0) }
        for w in c.warnings { printError("portcullis: warning: \(w)") }
        print("portcullis: the configuration file \(config) syntax is ok")
        print("portcullis: configuration file \(config) test is successful")
    }
}

/// Loads `path` as `check` does. On errors prints them and `summary` (nil: nothing more) to
/// stderr, then exits with `code`.
func loadChecked(_ path: String, exitCode code: Int32, summary: (ConfigError) -> String?) throws -> PortcullisConfig {
    switch ConfigValidation.validate(path: path) {
    case .success(let c): return c
    case .failure(let e):
        printError(e.description)
        if let line = summary(e) { printError(line) }
        throw ExitCode(code)
    }
}

/// `check`'s last line for a config that failed.
func testFailed(_ path: String, _ e: ConfigError) -> String {
    "portcullis: configuration file \(path) test failed (\(e.issues.count) error\(e.issues.count == 1 ? "" : "s"))"
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
