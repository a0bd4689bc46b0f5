import Foundation
import Logging
import Metrics
import ServiceLifecycle
import SlipwayCore
import SlipwayStore
import Synchronization

/// `reconcile`: at start-up and then at each repository's interval, lists its branch heads
/// with `git ls-remote` (its `clone_url`, else the one its newest build was cloned from;
/// its `clone_auth`) and hands every head its branch filters build to
/// `BuildIntake.reconcile`, which builds a head no delivery announced (trigger
/// `reconcile`) and takes a branch never seen before as a baseline. A branch deleted since
/// is simply not listed. A head to build is asked about again after a grace period
/// (`grace(for:)`) before it is built: a push's delivery usually arrives a second after
/// the push, and a listing in between must not beat it (it would build a `[skip ci]` head,
/// or build a pushed head as `reconcile`). What each listing found is counted in
/// `/metrics`; each build it queued is logged with its branch and commit.
public final class BranchReconciler: Service, Sendable {
    /// `slipway_reconcile_heads_total{decision}`: listed heads, by what they needed.
    static func heads(_ decision: ReconcileDecision) -> Counter {
        Counter(label: "slipway_reconcile_heads_total", dimensions: [("decision", decision.rawValue)])
    }
    /// `slipway_reconcile_listing_failures_total`: listings that failed (host unreachable,
    /// credentials refused, repository gone).
    static var listingFailures: Counter { Counter(label: "slipway_reconcile_listing_failures_total") }

    /// Declares the series at 0 (after the metrics bootstrap).
    public static func declareMetrics() {
        for decision in ReconcileDecision.allCases { heads(decision).increment(by: 0) }
        listingFailures.increment(by: 0)
    }

    let intake: BuildIntake
    let builds: any BuildQueryStore
    let config: LiveConfig
    let logger: Logger
    /// Repositories already told to have no clone URL (said once, not at every interval).
    private let toldNoCloneURL = Mutex<Set<String>>([])

    public init(intake: BuildIntake, builds: any BuildQueryStore, config: LiveConfig, logger: Logger) {
        self.intake = intake
        self.builds = builds
        self.config = config
        self.logger = logger
    }

    public func run() async throws {
        // Shutdown cancels a listing in flight rather than waiting for it.
        _ = await cancelWhenGracefulShutdown { await self.reconcileForever() }
    }

    private func reconcileForever() async {
        var due: [String: ContinuousClock.Instant] = [:]
        while !Task.isCancelled {
            let snapshot = config.snapshot.config
            for repository in snapshot.repositories {
                guard let interval = snapshot.reconcileInterval(of: repository) else { continue }
                let key = repository.name.lowercased()
                guard due[key, default: .now] <= .now else { continue }
                await reconcile(repository)
                due[key] = .now + interval
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    /// One listing of `repository`: what each wanted head needed, by decision.
    /// How long a head that needs a build is left for its delivery: GitHub gives up on a
    /// delivery after 10 s; at most half the interval.
    static func grace(for interval: Duration) -> Duration { min(.seconds(10), interval / 2) }

    @discardableResult
    public func reconcile(_ repository: RepositoryConfig) async -> [ReconcileDecision: Int] {
        var logger = self.logger
        logger[metadataKey: "repo"] = "\(repository.name)"
        guard let url = await cloneURL(of: repository, logger: logger) else { return [:] }
        let text: String
        do {
            switch try await GitRemote.branchHeads(url: url, auth: repository.cloneAuth, config: config.snapshot) {
            case .listed(let listed): text = listed
            case .failed(let problem):
                Self.listingFailures.increment()
                logger.warning("reconcile: cannot list the branches", metadata: ["url": "\(url)", "problem": "\(problem)"])
                return [:]
            }
        } catch {
            Self.listingFailures.increment()
            logger.warning("reconcile: cannot list the branches", metadata: ["url": "\(url)", "error": "\(error)"])
            return [:]
        }
        let listing = BranchListing.parse(text)
        if repository.branches == nil, listing.defaultBranch == nil {
            logger.warning("reconcile: the remote names no default branch (HEAD); set branches: to reconcile", metadata: ["url": "\(url)"])
        }
        var found: [ReconcileDecision: Int] = [:]
        var toBuild: [BuildRequest] = []
        for head in BranchListing.wanted(listing.heads, defaultBranch: listing.defaultBranch, repository: repository) {
            if Task.isCancelled { break }
            let request = BuildRequest(
                repository: repository.name, ref: head.ref, sha: head.sha, cloneURL: url, trigger: .reconcile, deliveryID: nil)
            guard let outcome = await settle(request, queue: false, logger: logger) else { continue }
            if outcome.decision == .build {
                toBuild.append(request)
            } else {
                count(outcome, of: request, into: &found, logger: logger)
            }
        }
        if !toBuild.isEmpty, let interval = config.snapshot.config.reconcileInterval(of: repository) {
            try? await Task.sleep(for: Self.grace(for: interval))
        }
        for request in toBuild where !Task.isCancelled {
            if let outcome = await settle(request, queue: true, logger: logger) {
                count(outcome, of: request, into: &found, logger: logger)
            }
        }
        logger.debug(
            "reconcile: branches listed",
            metadata: ["found": "\(found.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue)=\($0.value)" })"])
        return found
    }

    /// `BuildIntake.reconcile`, a failure logged (nil).
    private func settle(_ request: BuildRequest, queue: Bool, logger: Logger) async -> ReconcileOutcome? {
        do {
            return try await intake.reconcile(request, queue: queue)
        } catch {
            logger.warning(
                "reconcile: cannot store what the listing found",
                metadata: ["ref": "\(request.ref)", "sha": "\(request.sha)", "error": "\(error)"])
            return nil
        }
    }

    private func count(_ outcome: ReconcileOutcome, of request: BuildRequest, into found: inout [ReconcileDecision: Int], logger: Logger) {
        found[outcome.decision, default: 0] += 1
        Self.heads(outcome.decision).increment()
        switch outcome {
        case .queued(let build):
            logger.notice(
                "reconcile: a push no delivery announced; build queued",
                metadata: ["build": "\(build.id)", "ref": "\(build.ref)", "sha": "\(build.sha)"])
        case .decided(.baseline, _):
            logger.info(
                "reconcile: a branch listed for the first time; its head is the baseline, not built",
                metadata: ["ref": "\(request.ref)", "sha": "\(request.sha)"])
        case .decided:
            break
        }
    }

    /// The repository's `clone_url`, else the URL its newest build was cloned from (a push
    /// payload's); nil, said once, when neither is known.
    private func cloneURL(of repository: RepositoryConfig, logger: Logger) async -> String? {
        if let url = repository.cloneURL { return url }
        do {
            if let url = try await builds.builds(BuildFilter(repository: repository.name, limit: 1)).first?.cloneURL { return url }
        } catch {
            logger.warning("reconcile: cannot read the newest build's clone URL", metadata: ["error": "\(error)"])
            return nil
        }
        if toldNoCloneURL.withLock({ $0.insert(repository.name.lowercased()).inserted }) {
            logger.notice("reconcile: no clone_url and no build to take one from; the repository is listed once it has a build")
        }
        return nil
    }
}
