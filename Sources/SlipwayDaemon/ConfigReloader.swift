import Logging
import ServiceLifecycle
import SlipwayCore
import UnixSignals

/// SIGHUP: load the config again. A bad new config is refused with a log line naming its
/// problems, and the old one stays in force. Settings bound at start-up (listen address,
/// state_dir, database) keep their old values until a restart, and the log says so.
struct ConfigReloader: Service {
    let loader: ConfigLoader
    let live: LiveConfig
    let logger: Logger
    let onReload: @Sendable (ResolvedConfig) -> Void

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            reload()
        }
    }

    func reload() {
        let old = live.snapshot.config
        let new: ResolvedConfig
        do {
            new = try loader.load()
        } catch {
            logger.error(
                "config reload refused; the previous config stays in force",
                metadata: [
                    "config": "\(loader.path)", "problems": "\(error.problems.map(\.description))",
                ])
            return
        }
        var effective = new.config
        var needRestart: [String] = []
        if effective.server.listen != old.server.listen { needRestart.append("server.listen") }
        if effective.stateDirectory != old.stateDirectory { needRestart.append("state_dir") }
        if effective.database != old.database { needRestart.append("database") }
        if effective.logLevel != old.logLevel { needRestart.append("log_level") }
        effective.server.listen = old.server.listen
        effective.stateDirectory = old.stateDirectory
        effective.database = old.database
        effective.logLevel = old.logLevel
        guard let resolved = try? ResolvedConfig(config: effective, source: ResolvedValues(new)) else { return }
        live.replace(with: resolved)
        if !needRestart.isEmpty {
            logger.warning("config reloaded; these settings take effect at the next restart", metadata: ["keys": "\(needRestart)"])
        }
        logger.info("config reloaded", metadata: ["config": "\(loader.path)", "repositories": "\(effective.repositories.count)"])
        onReload(resolved)
    }
}

/// Re-serves the values of an already resolved config, so a config adjusted in memory
/// is not resolved against the environment a second time.
private struct ResolvedValues: SecretSource {
    let resolved: ResolvedConfig
    init(_ resolved: ResolvedConfig) { self.resolved = resolved }
    func value(of reference: SecretReference) -> Result<String, SecretLookupError> {
        resolved.secret(reference).map { .success($0) }
            ?? .failure(SecretLookupError(reference: reference, reason: "not resolved"))
    }
}

extension ConfigReloader: CustomStringConvertible {
    var description: String { "ConfigReloader(\(loader.path))" }
}
