import Foundation
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
    /// Told RELOADING=1 before the config is read and READY=1 after, taken or refused.
    let notifier: ServiceManagerNotifier?
    let logger: Logger
    let onReload: @Sendable (ResolvedConfig) -> Void

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            notifier?.send(.reloading(monotonicMicroseconds: ServiceManagerNotifier.monotonicMicroseconds()))
            let taken = reload()
            let at = ISO8601DateFormatter().string(from: Date())
            notifier?.send(.ready(status: taken ? "config reloaded at \(at)" : "config reload refused at \(at); the previous config stays"))
        }
    }

    /// Whether the new config was taken.
    @discardableResult
    func reload() -> Bool {
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
            return false
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
        guard let resolved = try? ResolvedConfig(config: effective, source: ResolvedValues(new)) else { return false }
        live.replace(with: resolved)
        if !needRestart.isEmpty {
            logger.warning("config reloaded; these settings take effect at the next restart", metadata: ["keys": "\(needRestart)"])
        }
        logger.info("config reloaded", metadata: ["config": "\(loader.path)", "repositories": "\(effective.repositories.count)"])
        onReload(resolved)
        return true
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
