import GRDB
import SlipwayCore
import Synchronization

/// Group commit for deliveries: deliveries that arrive while a group is being written
/// wait for it, then go into the next transaction together. A caller still returns only
/// after the transaction holding its delivery is durable, so no acknowledged delivery can
/// be lost. A delivery whose write fails does not fail the others: the group is then
/// written again, each delivery in its own savepoint.
///
/// The group is written by the writer itself, not by a caller's task: a caller's task
/// would have to be scheduled again after each step (behind every request then waiting
/// for a thread), and that wait would hold up the next group. So the writer takes the
/// waiting deliveries when its turn comes, writes them in one transaction, queues the
/// next group's write behind it when more wait, and leaves the callers to `WALSyncer`,
/// which answers them once a sync has covered their commit. The next group is written
/// while this one is synced, and a sync covers every group written while the last one ran.
///
/// A caller's cancellation does not reach the write: its delivery is committed and
/// returned like the others (the store contract: committed and returned, or rolled back
/// and thrown, never both).
///
/// Measured in `/metrics` (`StoreMetrics`): group sizes, each delivery's wait for
/// its group, each group's write and its wait for durability.
final class DeliveryGroupCommit: Sendable {
    typealias Write = @Sendable (Database, DeliveryTransaction?) throws -> DeliveryOutcome
    typealias Reply = @Sendable (Result<DeliveryOutcome, any Error>) -> Void

    private struct Waiting {
        let write: Write
        let arrived: ContinuousClock.Instant
        let reply: Reply
    }

    /// Where the next group's write stands.
    private enum Turn {
        /// Nothing written or to write: the next delivery schedules a group.
        case idle
        /// A group's write is queued on the writer or running.
        case scheduled
        /// A group is written whose commit no sync has started on yet: the next group waits
        /// for that sync to start (written sooner, it would only be synced with it).
        case awaitingSync
    }

    private struct State {
        var waiting: [Waiting] = []
        var turn = Turn.idle
    }

    private let database: SQLiteDatabase
    private let state = Mutex(State())
    /// The most deliveries in one transaction.
    static let maxGroup = 256

    init(database: SQLiteDatabase) {
        self.database = database
    }

    /// Queues `write` for the next group; `reply` is called once, with its result, when
    /// the group is durable (or has failed).
    func submit(_ write: @escaping Write, reply: @escaping Reply) {
        let arrived = ContinuousClock.now
        let schedule = state.withLock { state in
            state.waiting.append(Waiting(write: write, arrived: arrived, reply: reply))
            guard state.turn == .idle else { return false }
            state.turn = .scheduled
            return true
        }
        if schedule { scheduleGroup() }
    }

    /// Queues a group's write on the writer, behind the writes already queued there. The
    /// group is taken when the write starts, so it holds every delivery that came meanwhile.
    private func scheduleGroup() {
        database.pool.asyncWriteWithoutTransaction { [self] db in writeGroup(db) }
    }

    /// On the writer: the oldest waiting deliveries in one transaction; the next group
    /// queued when more wait; the callers answered once the commit is durable.
    private func writeGroup(_ db: Database) {
        let group: [Waiting] = state.withLock { state in
            let group = Array(state.waiting.prefix(Self.maxGroup))
            state.waiting.removeFirst(group.count)
            return group
        }
        let started = ContinuousClock.now
        StoreMetrics.groupSize.record(group.count)
        for waiting in group { StoreMetrics.groupWait.recordNanoseconds((started - waiting.arrived).nanoseconds) }
        let writes = group.map(\.write)
        let results: [Result<DeliveryOutcome, any Error>]
        do {
            results = try writeTogether(db, writes)
            database.storage.note(nil)
        } catch {
            database.storage.note(error)
            results = writeEachInSavepoint(db, writes)
        }
        let commit = database.syncer.lastCommit
        let written = ContinuousClock.now
        StoreMetrics.groupWrite.recordNanoseconds((written - started).nanoseconds)

        // The next group is written once a sync has started on this one: written sooner,
        // it would wait for the same sync as a group written then, with fewer deliveries
        // in it (more commits of the same pages, more bytes to sync per delivery).
        state.withLock { $0.turn = .awaitingSync }
        database.syncer.whenSyncStarts(covering: commit) { [self] in
            let schedule = state.withLock { state in
                state.turn = state.waiting.isEmpty ? .idle : .scheduled
                return state.turn == .scheduled
            }
            if schedule { scheduleGroup() }
        }

        database.syncer.whenDurable(through: commit) { failure in
            StoreMetrics.groupDurableWait.recordNanoseconds((ContinuousClock.now - written).nanoseconds)
            for (waiting, result) in zip(group, results) {
                // Stored but not known to be durable: not acknowledged (a redelivery finds it).
                waiting.reply(failure.map { .failure($0) } ?? result)
            }
        }
    }

    /// The usual case: the whole group in one transaction, with no savepoint per delivery
    /// (a savepoint makes SQLite copy each page a delivery changes to a sub-journal first:
    /// the same few pages, again for every delivery). If any write throws, the whole
    /// transaction is rolled back and nothing of the group is stored.
    private func writeTogether(_ db: Database, _ writes: [Write]) throws -> [Result<DeliveryOutcome, any Error>] {
        var results: [Result<DeliveryOutcome, any Error>] = []
        try db.inTransaction {
            let transaction = DeliveryTransaction()
            results = try writes.map { write in .success(try write(db, transaction)) }
            return .commit
        }
        return results
    }

    /// After a group failed: each delivery again, in its own savepoint, so that only the
    /// one that fails gets an error.
    private func writeEachInSavepoint(_ db: Database, _ writes: [Write]) -> [Result<DeliveryOutcome, any Error>] {
        var results: [Result<DeliveryOutcome, any Error>] = []
        do {
            try db.inTransaction {
                results = writes.map { write in
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
                return .commit
            }
            database.storage.note(nil)
            return results
        } catch {
            database.storage.note(error)
            return writes.map { _ in .failure(error) }
        }
    }
}

/// What one group transaction of deliveries has written that a later delivery of the
/// same transaction may rewrite or would read again: the status-outbox row of each build
/// it queued, and the queued builds of each lane it has read (only this transaction
/// writes while it runs, so they stay known). Used only on the writer, inside that one
/// transaction, then dropped.
final class DeliveryTransaction {
    var unsentStatusRows: [Int64: Int64] = [:]
    var queuedInLane: [String: [Build]] = [:]
}
