import GRDB
import SlipwayCore
import Synchronization

/// Group commit for deliveries: deliveries that arrive while a write transaction is being
/// committed wait for it, then go into the next transaction together — one fsync for the
/// whole group instead of one each. A caller still returns only after the transaction
/// holding its delivery has committed (durable), so no acknowledged delivery can be lost.
/// A delivery whose write fails does not fail the others: the group is then written again,
/// each delivery in its own savepoint.
///
/// The commits run on the callers' own tasks, nothing in the background: the first
/// caller to find no commit under way leads; it commits groups (its own delivery in the
/// first) until its own is done, then hands the lead to the oldest caller still waiting.
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
        let wakeup = await withCheckedContinuation { (continuation: CheckedContinuation<Wakeup, Never>) in
            let lead = state.withLock { state in
                state.nextID &+= 1
                myID = state.nextID
                state.waiting.append(Waiting(id: myID, write: write, continuation: continuation))
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

    /// Commits the oldest waiting deliveries (the leader's own is the oldest: a caller
    /// only leads when nobody waited before it, or when the lead is handed to it as the
    /// oldest), hands the lead to the oldest caller that came meanwhile, then wakes the
    /// group's callers. The lead goes first so that the next commit is not queued behind
    /// the replies of this group.
    private func lead(as id: UInt64) async -> Result<DeliveryOutcome, any Error> {
        let group: [Waiting] = state.withLock { state in
            let group = Array(state.waiting.prefix(Self.maxGroup))
            state.waiting.removeFirst(group.count)
            return group
        }
        let writes = group.map(\.write)
        let results: [Result<DeliveryOutcome, any Error>]
        do {
            results = try await writeTogether(writes)
        } catch is CancellationError {
            // The leader's task was cancelled (its client's request ended): nothing of the
            // group was stored. The others' deliveries are not the leader's to give up:
            // they go back to the front, and the oldest of them leads.
            passTheLead(requeueing: group.filter { $0.id != id })
            return .failure(CancellationError())
        } catch {
            results = await writeEachInSavepoint(writes)
        }
        passTheLead()
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
    /// leader's task is cancelled (GRDB's async write rolls back and throws `CancellationError`).
    private func writeTogether(_ writes: [Write]) async throws -> [Result<DeliveryOutcome, any Error>] {
        try await storage.watching {
            try await database.pool.write { db in
                let transaction = DeliveryTransaction()
                return try writes.map { write in .success(try write(db, transaction)) }
            }
        }
    }

    /// After a group failed: each delivery again, in its own savepoint, so that only the
    /// one that fails gets an error.
    private func writeEachInSavepoint(_ writes: [Write]) async -> [Result<DeliveryOutcome, any Error>] {
        do {
            return try await storage.watching {
                try await database.pool.write { db in
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
