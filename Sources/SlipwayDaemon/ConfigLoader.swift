import Foundation
import SlipwayCore
import SlipwaySecrets

/// Reads, validates and resolves the config file: the one place the daemon touches it.
public struct ConfigLoader: Sendable {
    public let path: String
    let secrets: any SecretSource

    public init(path: String) {
        self.path = path
        self.secrets = ProcessSecretSource()
    }

    init(path: String, secrets: any SecretSource) {
        self.path = path
        self.secrets = secrets
    }

    /// The resolved config, or a `ConfigError` listing every problem (parse errors first;
    /// secrets are only looked up for a config that parsed).
    public func load() throws(ConfigError) -> ResolvedConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw ConfigError(source: path, problems: [ConfigProblem(path: "", message: "the config file \(reason)")])
        }
        let config = try ConfigParser.parse(yaml: text, source: path)
        let unsupported = Self.unsupportedSettings(config)
        guard unsupported.isEmpty else { throw ConfigError(source: path, problems: unsupported) }
        return try ResolvedConfig(config: config, source: secrets, origin: path)
    }

    /// Valid per the SPEC but not runnable by this version: refused here, so that
    /// `--check-config` does not pass a config the daemon would then refuse.
    static func unsupportedSettings(_ config: Config) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if config.later.provenance {
            problems.append(
                ConfigProblem(
                    path: "provenance", message: "signed provenance is not supported by this version of slipwayd yet; remove the section"))
        }
        for (index, repository) in config.repositories.enumerated() where repository.deploy?.requiresProvenance == true {
            problems.append(
                ConfigProblem(
                    path: "repositories[\(index)].deploy.require_provenance",
                    message: "is not supported by this version of slipwayd yet; remove it or set it to null"))
        }
        return problems
    }
}
