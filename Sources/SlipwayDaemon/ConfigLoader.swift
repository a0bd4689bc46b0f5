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
        return try ResolvedConfig(config: config, source: secrets, origin: path)
    }
}
