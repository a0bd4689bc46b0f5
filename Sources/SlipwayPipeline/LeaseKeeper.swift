import Logging
import ServiceLifecycle
import SlipwayCore
import SlipwayStore
import Synchronization

/// Several replicas on PostgreSQL: keeps the leases of the builds this replica runs
/// (renewed every third of `queue.lease`), and takes over the builds of a replica that
/// stopped renewing its own.
///
/// - A build whose lease was taken over (this replica was paused or cut off for longer
///   than the lease) is stopped here at the next renewal: its processes end, and the
///   store refuses every write of that attempt anyway (its fence is old).
/// - While the database cannot be reached, leases cannot be renewed: once a whole lease
///   has passed since the last renewal, another replica may have taken the builds, so
///   they are stopped here too. A renewal is given up after a third of the lease: on a
///   cut network its query would wait for TCP to give up, many minutes later.
/// - Every lease, builds whose lease ran out are queued again (another attempt) and the
///   queue is woken; each round also wakes it for builds other replicas stored.
public struct LeaseKeeper: Service, CustomStringConvertible {
    public var description: String { "LeaseKeeper" }

    let store: any BuildLeaseRenewal & BuildLeaseStore
    let queue: BuildQueue
    let logger: Logger

    public init(store: any BuildLeaseRenewal & BuildLeaseStore, queue: BuildQueue, logger: Logger) {
        self.store = store
        self.queue = queue
        self.logger = logger
    }

    public func run() async throws {
        _ = await cancelWhenGracefulShutdown { await keepForever() }
    }

    private func keepForever() async {
        let lease = store.lease
        var lastRenewal = ContinuousClock.now
        var lastRecovery = ContinuousClock.now
        while (try? await Task.sleep(for: lease / 3)) != nil {
            lastRenewal = await renew(since: lastRenewal, lease: lease)
            if ContinuousClock.now - lastRecovery >= lease {
                lastRecovery = .now
                await takeOverExpired()
            }
            queue.wake()
        }
    }

    /// Renews; returns when the leases were last renewed.
    private func renew(since lastRenewal: ContinuousClock.Instant, lease: Duration) async -> ContinuousClock.Instant {
        let running = Set(queue.runningBuildIDs)
        do {
            let lost = try await Abandonable.within(lease / 3) { [store] in try await store.renewLeases(of: running) }
            for (id, state) in lost.sorted(by: { $0.key < $1.key }) {
                if state == .canceled {
                    // The cancel's NOTIFY may come after this renewal (ReplicaEventListener).
                    if queue.stop(id, reason: .canceledElsewhere(by: "another replica")) {
                        logger.notice(
                            "stopping a build canceled through another replica", metadata: ["build": "\(id)", "seen": "at lease renewal"])
                    }
                } else {
                    logger.warning(
                        "build taken over by another replica after this one missed its lease; stopping it",
                        metadata: ["build": "\(id)", "state": "\(state.rawValue)"])
                    queue.stop(id, reason: .leaseLost)
                }
            }
            return .now
        } catch {
            let overdue = ContinuousClock.now - lastRenewal >= lease
            logger.warning(
                "cannot renew the leases of this replica's builds",
                metadata: ["error": "\(error)", "builds": "\(running.sorted())", "overdue": "\(overdue)"])
            if overdue {
                for id in running.sorted() { queue.stop(id, reason: .leaseLost) }
            }
            return lastRenewal
        }
    }

    private func takeOverExpired() async {
        do {
            let recovered = try await store.recoverInterrupted()
            for build in recovered {
                logger.warning(
                    "build's replica stopped renewing its lease: queued again here",
                    metadata: ["build": "\(build.id)", "repo": "\(build.repository)", "state": "\(build.state.rawValue)"])
            }
        } catch {
            logger.warning("cannot look for builds whose lease ran out", metadata: ["error": "\(error)"])
        }
    }
}

/// Work awaited for at most a while, then left to finish on its own: a query on a
/// connection the network dropped cannot be cancelled, only no longer waited for.
public enum Abandonable {
    public struct TimedOut: Error, CustomStringConvertible {
        let limit: Duration
        public var description: String { "no answer from the database within \(DurationText.format(limit))" }
    }

    public static func within<T: Sendable>(_ limit: Duration, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        let outcome = Mutex<CheckedContinuation<T, any Error>?>(nil)
        let resume: @Sendable (Result<T, any Error>) -> Void = { result in
            outcome.withLock { continuation in
                continuation?.resume(with: result)
                continuation = nil
            }
        }
        return try await withCheckedThrowingContinuation { continuation in
            outcome.withLock { $0 = continuation }
            Task {
                do { resume(.success(try await work())) } catch { resume(.failure(error)) }
            }
            Task {
                try? await Task.sleep(for: limit)
                resume(.failure(TimedOut(limit: limit)))
            }
        }
    }
}
