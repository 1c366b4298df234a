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
        // Referenced files were checked by the loader, each at its own line and column.
        var issues: [ConfigIssue] = []
        // Key material that only OpenSSL can judge (a refused PEM, a short RSA key).
        issues += AuthCompiler.validate(config.authorizers, file: path)
        do {
            _ = try Snapshot(config)
        } catch {
            issues += error.issues
        }
        return issues.isEmpty ? .success(config) : .failure(ConfigError(issues))
    }
}
