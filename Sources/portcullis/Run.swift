import ArgumentParser
import Foundation
import Logging
import NIOCore
import PortcullisConfig
import PortcullisProxy
import UnixSignals

/// `portcullis run`: serve a config; SIGHUP reloads it, SIGUSR1 reopens the access-log file,
/// SIGTERM/SIGINT drain and exit 0.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.")

    @Option(name: .shortAndLong, help: "The config file.")
    var config: String = "config/portcullis.yaml"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "Write the process id here once listening (overrides the config's pid_file); `portcullis reload` reads it.")
    var pidFile: String?

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level is one of trace, debug, info, notice, warning, error, critical; not \"\(logLevel)\"")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "portcullis")
        // Trap signals before anything can report readiness: SIGHUP's default action kills.
        let signals = await UnixSignalsSequence(trapping: .sighup, .sigterm, .sigint, .sigusr1)
        let loaded = try loadChecked(config, exitCode: 1) { _ in nil }
        for w in loaded.warnings { logger.warning("config", metadata: ["warning": "\(w)"]) }
        let server: PortcullisServer
        do {
            server = try PortcullisServer(config: loaded, logger: logger)
            try server.start()
        } catch {
            printError("portcullis: \(error)")
            throw ExitCode(1)
        }
        let pidPath = pidFile ?? loaded.pidFile
        if let pidPath {
            do {
                try PidFile.write(pidPath)
            } catch {
                printError("portcullis: cannot write the pid file \(pidPath): \(error.localizedDescription)")
                await server.shutdown(grace: .zero)
                throw ExitCode(1)
            }
        }
        let listening = server.boundAddresses.sorted(by: { $0.key < $1.key })
            .map { "\($0.key)=\($0.value.ipAddress ?? "?"):\($0.value.port ?? 0)" }.joined(separator: " ")
        logger.notice("ready", metadata: ["listeners": "\(listening)"])
        // Authorizers with remote key sets are not ready until the first set loads: report
        // readiness when they are, or after a bounded wait (requests then get 500 until it loads).
        if !(await server.waitUntilReady(timeout: .seconds(10))) {
            logger.warning("authorizer key sets not loaded yet; serving, requests that need them get 500 until they load")
        }
        Systemd.notify("READY=1\nSTATUS=serving \(config)")
        let watchdog = Systemd.startWatchdog(server.group)
        defer { watchdog?.cancel() }
        var grace = loaded.shutdownGrace
        for await signal in signals {
            switch signal {
            case .sighup:
                Systemd.notify("RELOADING=1\nMONOTONIC_USEC=\(Systemd.monotonicMicros())")
                switch ConfigValidation.validate(path: config) {
                case .success(let c):
                    for w in c.warnings { logger.warning("config", metadata: ["warning": "\(w)"]) }
                    do {
                        try server.reload(c)
                        grace = c.shutdownGrace
                    } catch {
                        // `reload` counted the failure itself.
                        logger.error("reload failed; keeping the running config", metadata: ["error": "\(error)"])
                        printError("\(error)")
                    }
                case .failure(let e):
                    server.noteReloadFailed()
                    logger.error("reload failed; keeping the running config", metadata: ["file": "\(config)"])
                    printError(e.description)
                }
                Systemd.notify("READY=1\nSTATUS=serving \(config)")
            case .sigusr1:
                // logrotate's way: the file was renamed; write to a new one of the same name.
                server.reopenLogs()
            case .sigterm, .sigint:
                Systemd.notify("STOPPING=1")
                logger.notice("shutting down", metadata: ["grace": "\(grace)"])
                // The watchdog stops before the loops do: its pings run a task on every loop.
                watchdog?.cancel()
                await watchdog?.value
                await server.shutdown(grace: grace)
                if let pidPath { PidFile.remove(pidPath) }
                return
            default:
                break
            }
        }
    }
}
