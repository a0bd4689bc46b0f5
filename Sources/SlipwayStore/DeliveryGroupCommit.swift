import GRDB
import Metrics
import SlipwayCore
import Synchronization

/// Group commit for deliveries: deliveries that arrive while a group is being written
/// wait for it, then go into the next transaction together. A caller still returns only
/// after the transaction holding its delivery is durable, so no acknowledged delivery can
/// be lost. A delivery whose write fails does not fail the others: the group is then
/// written again, each delivery in its own savepoint.
///
/// The commits run on the callers' own tasks, nothing in the background: the first
/// caller to find no commit under way leads; it writes a group (its own delivery in the
/// first), hands the lead to the oldest caller still waiting, waits until its group's
/// commit is durable (`WALSyncer`, which syncs the log for every commit made meanwhile),
/// then wakes its group. So the next group is written while this one is made durable, and
/// a sync covers every group written while the previous sync ran.
///
/// Measured in `/metrics` (`DeliveryGroupMetrics`): group sizes, each delivery's wait for
/// its group, each group's write and its wait for durability.
final class DeliveryGroupCommit: Sendable {
    typealias Write = @Sendable (Database, DeliveryTransaction?) throws -> DeliveryOutcome

    /// What a waiting caller is woken with: its delivery's result, or the lead.
    private enum Wakeup {
        case done(Result<DeliveryOutcome, any Error>)
        case lead
    }

    private struct Waiting {
        let id: UInt64
        let write: Write
        let arrived: ContinuousClock.Instant
        let continuation: CheckedContinuation<Wakeup, Never>
    }

    private struct State {
        var waiting: [Waiting] = []
        var leading = false
        var nextID: UInt64 = 0
    }

    private let database: SQLiteDatabase
    private let state = Mutex(State())
    /// The most deliveries in one transaction.
    static let maxGroup = 256

    private var storage: StorageWatch { database.storage }

    init(database: SQLiteDatabase) {
        self.database = database
    }

    func submit(_ write: @escaping Write) async throws -> DeliveryOutcome {
        var myID: UInt64 = 0
        let arrived = ContinuousClock.now
        let wakeup = await withCheckedContinuation { (continuation: CheckedContinuation<Wakeup, Never>) in
            let lead = state.withLock { state in
                state.nextID &+= 1
                myID = state.nextID
                state.waiting.append(Waiting(id: myID, write: write, arrived: arrived, continuation: continuation))
                guard !state.leading else { return false }
                state.leading = true
                return true
            }
            if lead { continuation.resume(returning: .lead) }
        }
        switch wakeup {
        case .done(let result): return try result.get()
        case .lead: return try await lead(as: myID).get()
        }
    }

    /// Writes the oldest waiting deliveries (the leader's own is the oldest: a caller
    /// only leads when nobody waited before it, or when the lead is handed to it as the
    /// oldest), hands the lead to the oldest caller that came meanwhile, waits until the
    /// group's commit is durable, then wakes the group's callers. The lead goes first so
    /// that the next group is written while this one is synced.
    private func lead(as id: UInt64) async -> Result<DeliveryOutcome, any Error> {
        let group: [Waiting] = state.withLock { state in
            let group = Array(state.waiting.prefix(Self.maxGroup))
            state.waiting.removeFirst(group.count)
            return group
        }
        let started = ContinuousClock.now
        DeliveryGroupMetrics.size.record(group.count)
        for waiting in group { DeliveryGroupMetrics.wait.recordNanoseconds((started - waiting.arrived).nanoseconds) }
        let writes = group.map(\.write)
        var results: [Result<DeliveryOutcome, any Error>]
        let commit: UInt64
        do {
            (results, commit) = try await writeTogether(writes)
        } catch is CancellationError {
            // The leader's task was cancelled (its client's request ended): nothing of the
            // group was stored. The others' deliveries are not the leader's to give up:
            // they go back to the front, and the oldest of them leads.
            passTheLead(requeueing: group.filter { $0.id != id })
            return .failure(CancellationError())
        } catch {
            (results, commit) = await writeEachInSavepoint(writes)
        }
        let written = ContinuousClock.now
        DeliveryGroupMetrics.write.recordNanoseconds((written - started).nanoseconds)
        passTheLead()
        do {
            try await database.syncer.durable(through: commit)
        } catch {
            // Stored, but not known to be durable: not acknowledged (a redelivery finds it).
            results = results.map { _ in .failure(error) }
        }
        DeliveryGroupMetrics.durable.recordNanoseconds((ContinuousClock.now - written).nanoseconds)
        var mine: Result<DeliveryOutcome, any Error> = .failure(CancellationError())
        for (waiting, result) in zip(group, results) {
            if waiting.id == id { mine = result } else { waiting.continuation.resume(returning: .done(result)) }
        }
        return mine
    }

    /// Hands the lead to the oldest waiting caller, after putting `requeued` back in front
    /// of the queue; gives it up when nobody waits.
    private func passTheLead(requeueing requeued: [Waiting] = []) {
        let next: Waiting? = state.withLock { state in
            state.waiting.insert(contentsOf: requeued, at: 0)
            guard let first = state.waiting.first else {
                state.leading = false
                return nil
            }
            return first
        }
        next?.continuation.resume(returning: .lead)
    }

    /// The usual case: the whole group in one transaction, with no savepoint per delivery
    /// (a savepoint makes SQLite copy each page a delivery changes to a sub-journal first:
    /// the same few pages, again for every delivery). If any write throws, the whole
    /// transaction is rolled back and nothing of the group is stored; so it is when the
    /// leader's task is cancelled (GRDB's async write makes the statements throw
    /// `CancellationError`). Returns the results and the number of the commit to wait for.
    private func writeTogether(_ writes: [Write]) async throws -> ([Result<DeliveryOutcome, any Error>], UInt64) {
        try await storage.watching {
            try await transaction { db in
                let transaction = DeliveryTransaction()
                return try writes.map { write in .success(try write(db, transaction)) }
            }
        }
    }

    /// After a group failed: each delivery again, in its own savepoint, so that only the
    /// one that fails gets an error.
    private func writeEachInSavepoint(_ writes: [Write]) async -> ([Result<DeliveryOutcome, any Error>], UInt64) {
        do {
            return try await storage.watching {
                try await transaction { db in
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
                }
            }
        } catch {
            return (writes.map { _ in .failure(error) }, 0)
        }
    }

    /// One transaction on the writer, and the number of its commit, read on the writer
    /// right after it (a later one would make the caller wait for a later sync).
    private func transaction<T: Sendable>(_ updates: @escaping @Sendable (Database) throws -> T) async throws -> (T, UInt64) {
        try await database.pool.writeWithoutTransaction { [syncer = database.syncer] db in
            var value: T?
            try db.inTransaction {
                value = try updates(db)
                return .commit
            }
            return (value!, syncer.lastCommit)
        }
    }
}

/// The group commit's series in `/metrics`; made on first use (after the daemon has
/// bootstrapped its metrics system).
enum DeliveryGroupMetrics {
    /// Deliveries per transaction.
    static let size = Recorder(label: "slipway_delivery_group_size", aggregate: true)
    /// Per delivery: from its arrival at the store to the start of its group's write.
    static let wait = Timer(label: "slipway_delivery_group_wait_seconds")
    /// Per group: its transaction, up to its commit (not synced yet).
    static let write = Timer(label: "slipway_delivery_group_write_seconds")
    /// Per group: from its commit until it is durable (the sync under way, then its own).
    static let durable = Timer(label: "slipway_delivery_group_durable_wait_seconds")
}

/// What one group transaction of deliveries has written that a later delivery of the
/// same transaction may rewrite: the status-outbox row of each build it queued. Used only
/// on the writer, inside that one transaction, then dropped.
final class DeliveryTransaction {
    var unsentStatusRows: [Int64: Int64] = [:]
}
