import Foundation
import SlipwayCore
import SlipwayStore

/// The one door through which anything asks for a build: a push (the webhook route), an
/// operator (a rebuild, a build of a ref), a model change (`ModelWatcher`), a branch
/// head no delivery announced (`BranchReconciler`). Each call, in one go:
/// 1. stores what it was given (the delivery and its build in one transaction);
/// 2. supersedes what the new build makes obsolete, by one rule (`QueuePolicy`): queued
///    builds of its lane in the store's transaction, running ones here;
/// 3. wakes the workers.
/// Nothing else stores a build or wakes the queue for one; the HTTP routes only
/// translate requests to these calls.
public struct BuildIntake: Sendable {
    let store: any BuildIntakeStore
    let config: LiveConfig
    let queue: BuildQueue

    public init(store: any BuildIntakeStore, config: LiveConfig, queue: BuildQueue) {
        self.store = store
        self.config = config
        self.queue = queue
    }

    /// A verified delivery, with the build it asks for when it asks for one. A delivery
    /// id stored before gives `.duplicate` and changes nothing.
    public func accept(_ delivery: DeliveryRecord, build request: BuildRequest?) async throws -> DeliveryOutcome {
        let outcome = try await store.recordDelivery(delivery, build: request, supersedeOlder: cancelSuperseded)
        if case .stored(let build?, _) = outcome, let request { stored(build, for: request) }
        return outcome
    }

    /// The same, for a caller that must not wait (a connection's event loop): `completion`
    /// is called once, on any thread, after the delivery is stored and the queue told.
    public func accept(
        _ delivery: DeliveryRecord, build request: BuildRequest?,
        completion: @escaping @Sendable (Result<DeliveryOutcome, any Error>) -> Void
    ) {
        store.recordDelivery(delivery, build: request, supersedeOlder: cancelSuperseded) { [self] outcome in
            if case .success(.stored(let build?, _)) = outcome, let request { stored(build, for: request) }
            completion(outcome)
        }
    }

    /// A build not tied to a delivery (rebuild, model change, schedule).
    public func request(_ request: BuildRequest) async throws -> Build {
        let build = try await store.enqueue(request, supersedeOlder: cancelSuperseded)
        stored(build, for: request)
        return build
    }

    /// Why a build of a branch head cannot be asked for.
    public enum HeadProblem: Error, Equatable, CustomStringConvertible {
        case noCloneURL(repository: String)
        case refNotFound(ref: String?, repository: String)

        public var description: String {
            switch self {
            case .noCloneURL(let repository): "\(repository) has no clone_url to resolve a ref with"
            case .refNotFound(let ref, let repository): "\(ref ?? "HEAD") not found in \(repository)"
            }
        }
    }

    /// A build of the commit `ref` points at now (nil: the default branch), read from the
    /// repository's `clone_url` with `git ls-remote` and its clone credentials.
    public func requestHead(of repository: RepositoryConfig, ref: String?, trigger: BuildTrigger) async throws -> Build {
        guard let url = repository.cloneURL else { throw HeadProblem.noCloneURL(repository: repository.name) }
        guard let head = try await GitRemote.head(url: url, ref: ref, auth: repository.cloneAuth, config: config.snapshot) else {
            throw HeadProblem.refNotFound(ref: ref, repository: repository.name)
        }
        return try await request(
            BuildRequest(
                repository: repository.name, ref: head.ref, sha: head.sha, cloneURL: url,
                trigger: trigger, deliveryID: nil))
    }

    /// A branch head `reconcile` listed (trigger `reconcile`): built only when nobody
    /// announced it (`BuildIntakeStore.reconcileHead`); with `queue` false, only said.
    public func reconcile(_ request: BuildRequest, queue: Bool) async throws -> ReconcileOutcome {
        let outcome = try await store.reconcileHead(request, supersedeOlder: cancelSuperseded, queue: queue)
        if case .queued(let build) = outcome { stored(build, for: request) }
        return outcome
    }

    private var cancelSuperseded: Bool { config.snapshot.config.queue.cancelSuperseded }

    private func stored(_ build: Build, for request: BuildRequest) {
        queue.supersedeRunning(by: request, newID: build.id)
        queue.wake(forNewBuildIn: request.lane)
    }
}
