import Foundation
import PortcullisAuth
public import PortcullisConfig

/// Everything `check` and a reload verify: the YAML, the references between its parts, the
/// files it names and the upstream addresses. The same function serves both, so a reload fails
/// exactly as `check` would print.
public enum ConfigValidation {
    public static func validate(path: String) -> Result<PortcullisConfig, ConfigError> {
        let config: PortcullisConfig
        do {
            config = try ConfigLoader.load(path: path)
        } catch {
            return .failure(error)
        }
        var issues: [ConfigIssue] = []
        for (i, l) in config.listeners.enumerated() {
            guard let tls = l.tls else { continue }
            var files = tls.certificates.flatMap { [$0.cert, $0.key] }
            if let ca = tls.clientCA { files.append(ca) }
            for f in files where !FileManager.default.isReadableFile(atPath: f) {
                issues.append(ConfigIssue(file: path, line: 0, column: 0, keyPath: "listeners[\(i)].tls",
                    message: "cannot read \(f); run certs/generate.sh or fix the path"))
            }
        }
        // Key material that only OpenSSL can judge (a refused PEM, a short RSA key).
        issues += AuthCompiler.validate(config.authorizers, file: path)
        // Missing files are reported once, by name; compiling would only repeat them as load errors.
        guard issues.isEmpty else { return .failure(ConfigError(issues)) }
        do {
            _ = try Snapshot(config)
        } catch {
            issues += error.issues
        }
        return issues.isEmpty ? .success(config) : .failure(ConfigError(issues))
    }
}
