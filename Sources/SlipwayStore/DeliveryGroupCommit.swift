import GRDB
import SlipwayCore
import Synchronization

/// Group commit for deliveries: deliveries that arrive while a write transaction is being
/// committed wait for it, then go into the next transaction together — one fsync for the
/// whole group instead of one each. A caller still returns only after the transaction
/// holding its delivery has committed (durable), so no acknowledged delivery can be lost.
/// A delivery whose write fails does not fail the others: the group is then written again,
/// each delivery in its own savepoint.
final class DeliveryGroupCommit: Sendable {
    typealias Write = @Sendable (Database, DeliveryTransaction?) throws -> DeliveryOutcome

    private struct Waiting {
        let write: Write
        let continuation: CheckedContinuation<DeliveryOutcome, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        var committing = false
    }

    private let pool: DatabasePool
    private let state = Mutex(State())
    /// The most deliveries in one transaction.
    static let maxGroup = 256

    private let storage: StorageWatch

    init(pool: DatabasePool, storage: StorageWatch) {
        self.pool = pool
        self.storage = storage
    }

    func submit(_ write: @escaping Write) async throws -> DeliveryOutcome {
        try await withCheckedThrowingContinuation { continuation in
            let startCommitter = state.withLock { state in
                state.waiting.append(Waiting(write: write, continuation: continuation))
                guard !state.committing else { return false }
                state.committing = true
                return true
            }
            if startCommitter { Task { await self.commitWhileWaiting() } }
        }
    }

    /// Commits groups until nobody waits.
    private func commitWhileWaiting() async {
        while true {
            let group: [Waiting] = state.withLock { state in
                let group = Array(state.waiting.prefix(Self.maxGroup))
                state.waiting.removeFirst(group.count)
                if group.isEmpty { state.committing = false }
                return group
            }
            guard !group.isEmpty else { return }
            let writes = group.map(\.write)
            let results: [Result<DeliveryOutcome, any Error>]
            do {
                results = try await writeTogether(writes)
            } catch {
                results = await writeEachInSavepoint(writes)
            }
            for (waiting, result) in zip(group, results) { waiting.continuation.resume(with: result) }
        }
    }

    /// The usual case: the whole group in one transaction, with no savepoint per delivery
    /// (a savepoint makes SQLite copy each page a delivery changes to a sub-journal first:
    /// the same few pages, again for every delivery). If any write throws, the whole
    /// transaction is rolled back and nothing of the group is stored.
    private func writeTogether(_ writes: [Write]) async throws -> [Result<DeliveryOutcome, any Error>] {
        try await storage.watching { try await pool.write { db in
            let transaction = DeliveryTransaction()
            return try writes.map { write in .success(try write(db, transaction)) }
        } }
    }

    /// After a group failed: each delivery again, in its own savepoint, so that only the
    /// one that fails gets an error.
    private func writeEachInSavepoint(_ writes: [Write]) async -> [Result<DeliveryOutcome, any Error>] {
        do {
            return try await storage.watching { try await pool.write { db in
                writes.map { write in
                    var result: Result<DeliveryOutcome, any Error> = .failure(CancellationError())
                    do {
                        try db.inSavepoint {
                            // No DeliveryTransaction: a savepoint rolled back would leave it
                            // naming rows that no longer exist.
                            result = .success(try write(db, nil))
                            return .commit
                        }
                    } catch {
                        result = .failure(error)
                    }
                    return result
                }
            } }
        } catch {
            return writes.map { _ in .failure(error) }
        }
    }
}

/// What one group transaction of deliveries has written that a later delivery of the
/// same transaction may rewrite: the status-outbox row of each build it queued. Used only
/// on the writer, inside that one transaction, then dropped.
final class DeliveryTransaction {
    var unsentStatusRows: [Int64: Int64] = [:]
}
