import Foundation
import Logging
import ServiceLifecycle
import SlipwayCore
import SlipwayModels
import SlipwayStore

/// `model.watch`: polls each watched source at its interval. A version counts once two
/// polls in a row see it (`ModelVersionSettling`: a model being replaced is not a version
/// of its own); the first is the baseline, and each settled change after it enqueues one
/// build (trigger `model`) of the default branch head of every repository using that
/// source, through `BuildIntake.requestHead` (`git ls-remote` with the repository's
/// `clone_url` and `clone_auth`).
public final class ModelWatcher: Service, Sendable {
    let intake: BuildIntake
    let config: LiveConfig
    let logger: Logger

    public init(intake: BuildIntake, config: LiveConfig, logger: Logger) {
        self.intake = intake
        self.config = config
        self.logger = logger
    }

    public func run() async throws {
        // Shutdown cancels a poll in flight rather than waiting for it.
        _ = await cancelWhenGracefulShutdown { await self.pollForever() }
    }

    private func pollForever() async {
        var known: [String: String] = [:]   // the last poll's version, for conditional requests
        var settling: [String: ModelVersionSettling] = [:]
        var due: [String: ContinuousClock.Instant] = [:]
        while !Task.isCancelled {
            let snapshot = config.snapshot
            let watched = snapshot.config.repositories.filter { $0.model?.watch != nil }
            for source in Set(watched.compactMap { $0.model?.source }) where (due[source] ?? .now) <= .now {
                let users = watched.filter { $0.model?.source == source }
                guard let model = users.first?.model, let interval = model.watch else { continue }
                due[source] = .now + interval
                do {
                    guard let location = ModelLocation(source) else { continue }
                    let modelStore = try ModelFetcher.store(for: model, location: location, secret: snapshot.secret)
                    let fetcher = ModelFetcher(cache: ModelCache(stateDirectory: snapshot.config.stateDirectory))
                    let version = try await fetcher.currentVersion(location, store: modelStore, known: known[source])
                    known[source] = version
                    guard settling[source, default: ModelVersionSettling()].observe(version) else { continue }
                    logger.notice("model changed", metadata: ["source": "\(source)", "version": "\(version)"])
                    for repository in users { await enqueueDefaultBranch(of: repository) }
                } catch {
                    logger.warning("cannot poll the model", metadata: ["source": "\(source)", "error": "\(error)"])
                }
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    func enqueueDefaultBranch(of repository: RepositoryConfig) async {
        var logger = self.logger
        logger[metadataKey: "repo"] = "\(repository.name)"
        do {
            let build = try await intake.requestHead(of: repository, ref: nil, trigger: .model)
            logger.notice(
                "build queued for the new model", metadata: ["build": "\(build.id)", "ref": "\(build.ref)", "sha": "\(build.sha)"])
        } catch let problem as BuildIntake.HeadProblem {
            logger.warning("model changed but no build can be queued", metadata: ["problem": "\(problem)"])
        } catch {
            logger.warning("cannot queue a build for the new model", metadata: ["error": "\(error)"])
        }
    }
}
