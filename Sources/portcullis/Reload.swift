import ArgumentParser
import Foundation
import PortcullisConfig
import PortcullisProxy

/// The process-id file of `run` (`pid_file:` or `run --pid-file`): written once the listeners are
/// bound, removed on a clean exit. `portcullis reload` signals exactly the process it names, so a
/// reload can never hit another process whose command line happens to look similar (a shell that
/// started the gateway, an editor with the config open).
enum PidFile {
    static func write(_ path: String) throws {
        try "\(getpid())\n".write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Removes the file if it still names this process (a newer instance may have replaced it).
    static func remove(_ path: String) {
        guard read(path) == getpid() else { return }
        try? FileManager.default.removeItem(atPath: path)
    }

    static func read(_ path: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Whether `pid` is a running `portcullis run` (its command line, from /proc).
    static func isGateway(_ pid: pid_t) -> Bool {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let args = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let first = args.first, (first as NSString).lastPathComponent == "portcullis" else { return false }
        return args.dropFirst().first == "run"
    }

    /// The config file a running `portcullis run` was started with, resolved against its
    /// working directory as it resolved it; nil when it cannot be told.
    static func configOf(_ pid: pid_t) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        let args = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        var config = "config/portcullis.yaml"  // run's default
        for (i, a) in args.enumerated() {
            if (a == "--config" || a == "-c"), i + 1 < args.count { config = args[i + 1] }
            if a.hasPrefix("--config=") { config = String(a.dropFirst(9)) }
        }
        if !config.hasPrefix("/"), let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd") {
            config = cwd + "/" + config
        }
        return URL(fileURLWithPath: config).resolvingSymlinksInPath().path
    }
}

/// `portcullis reload`: nginx's `-s reload`, with its habit of testing first. The config is
/// checked as `check` does; only if it passes is SIGHUP sent, to the process the pid file names.
struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the config, then make the running gateway reload it (SIGHUP to the pid in its pid file).",
        discussion: """
            The pid file is --pid-file, or the config's pid_file. Exit status: 0 signal sent; 1 the \
            config does not pass check, or the gateway runs another config file (nothing is \
            signalled: the running gateway keeps its config); \
            69 no running gateway (no pid file, a stale one, or another program's pid).
            The outcome of the reload itself is in the gateway's log ("config reloaded" or \
            "reload failed; keeping the running config").
            """)

    @Option(name: .shortAndLong, help: "The config file.")
    var config: String = "config/portcullis.yaml"

    @Option(help: "The running gateway's pid file (default: the config's pid_file).")
    var pidFile: String?

    func run() throws {
        let loaded = try loadChecked(config, exitCode: 1) { _ in "portcullis: configuration file \(config) test failed; nothing was reloaded" }
        for w in loaded.warnings { printError("portcullis: warning: \(w)") }
        guard let path = pidFile ?? loaded.pidFile else {
            printError("portcullis: no pid file: set pid_file in \(config), or pass --pid-file (the one `run` was given)")
            throw ExitCode(69)
        }
        guard let pid = PidFile.read(path) else {
            printError("portcullis: cannot read a pid from \(path): is the gateway running with this pid file?")
            throw ExitCode(69)
        }
        guard PidFile.isGateway(pid) else {
            printError("portcullis: pid \(pid) in \(path) is not a running `portcullis run` (a stale pid file?); nothing was signalled")
            throw ExitCode(69)
        }
        let mine = URL(fileURLWithPath: config).resolvingSymlinksInPath().path
        if let theirs = PidFile.configOf(pid), theirs != mine {
            printError("portcullis: pid \(pid) runs \(theirs), not \(mine): it would reload its own file, which was not checked; nothing was signalled")
            throw ExitCode(1)
        }
        guard kill(pid, SIGHUP) == 0 else {
            printError("portcullis: cannot signal pid \(pid): \(String(cString: strerror(errno)))")
            throw ExitCode(69)
        }
        print("portcullis: configuration file \(config) test is successful; reload signalled to pid \(pid)")
    }
}
