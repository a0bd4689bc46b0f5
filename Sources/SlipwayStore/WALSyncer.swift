import Dispatch
import Foundation
import GRDB
import SlipwayCore
import Synchronization

/// Makes commits durable apart from writing them, so that the writer never waits for
/// the disk. The writer connection runs at `synchronous = NORMAL`: a commit appends its
/// pages to the write-ahead log and returns without an fsync. Each commit is counted
/// here; on a queue of its own the syncer `fdatasync`s the log, which makes durable
/// every commit appended before the call, and then releases whoever waits for one of
/// them (`durable(through:)`). While one sync runs, the writer goes on with the next
/// transactions, and the next sync covers all of them at once.
///
/// So nothing that waits here returns before its commit is durable, as with `FULL`; the
/// other syncs `FULL` makes are NORMAL's too (the log before a checkpoint copies it, the
/// database file after, the log's header when the log starts over).
///
/// A failed fdatasync is final: the kernel may have dropped the pages it could not write
/// and marked them clean, so a later sync that succeeds proves nothing. Every waiter, and
/// every later one, gets `SyncFailed`, and the store reports it as its write problem
/// (deliveries get 503, `/readyz` fails) until a restart, when SQLite recovers from what
/// the log really holds.
final class WALSyncer: TransactionObserver, @unchecked Sendable {   // `log` is used on `queue` only
    struct SyncFailed: Error, CustomStringConvertible {
        let path: String
        let code: Int32

        var description: String {
            "the database log \(path) could not be made durable (\(String(cString: strerror(code)))); restart the daemon"
        }
    }

    /// Syncs the open log file; returns 0 or an errno. A seam for tests.
    typealias Sync = @Sendable (Int32) -> Int32

    private struct State {
        /// Commits counted so far, and how many of them are known durable.
        var committed: UInt64 = 0
        var synced: UInt64 = 0
        var syncing = false
        /// The newest commit a sync has started on (the running one's, or the last one's).
        var syncStartedThrough: UInt64 = 0
        var waiting: [(through: UInt64, then: @Sendable (SyncFailed?) -> Void)] = []
        var waitingForStart: [(through: UInt64, then: @Sendable () -> Void)] = []
        var failure: SyncFailed?
    }

    let logPath: String
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "slipway.sqlite.sync")
    private let sync: Sync
    private var log: (descriptor: Int32, identity: FileIdentity)?

    /// `sync`: nil for `fdatasync`.
    init(databasePath: String, sync: Sync? = nil) {
        logPath = databasePath + "-wal"
        self.sync = sync ?? { fdatasync($0) == 0 ? 0 : errno }
    }

    deinit {
        if let log { close(log.descriptor) }
    }

    /// The number of the newest commit: a caller that has just committed waits for it.
    var lastCommit: UInt64 { state.withLock { $0.committed } }

    /// The store's problem while the log cannot be made durable.
    var failure: SyncFailed? { state.withLock { $0.failure } }

    /// Returns once commit number `commit` (and every one before it) is durable.
    func durable(through commit: UInt64) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            whenDurable(through: commit) { failure in
                if let failure { continuation.resume(throwing: failure) } else { continuation.resume() }
            }
        }
    }

    /// Calls `then` once commit number `commit` is durable (nil), or cannot be (the
    /// failure): at once when it is known already, else on the syncer's queue.
    func whenDurable(through commit: UInt64, _ then: @escaping @Sendable (SyncFailed?) -> Void) {
        let known: SyncFailed?? = state.withLock { state in
            if let failure = state.failure { return .some(failure) }
            guard state.synced < commit else { return .some(nil) }
            state.waiting.append((commit, then))
            return nil
        }
        if let known { then(known) }
    }

    /// Calls `then` once a sync that covers commit number `commit` has started (or
    /// cannot: the log has failed): at once when one has, else on the syncer's queue.
    func whenSyncStarts(covering commit: UInt64, _ then: @escaping @Sendable () -> Void) {
        let started = state.withLock { state in
            guard state.failure == nil, state.syncStartedThrough < commit else { return true }
            state.waitingForStart.append((commit, then))
            return false
        }
        if started { then() }
    }

    /// Counts a commit of the writer (its pages are in the log now) and starts a sync
    /// unless one runs: the running one looks for more commits when it ends.
    private func committed() {
        let start = state.withLock { state in
            state.committed += 1
            guard !state.syncing, state.failure == nil else { return false }
            state.syncing = true
            return true
        }
        if start { queue.async { self.syncWhileBehind() } }
    }

    /// Syncs until every counted commit is durable, releasing the waiters of each sync.
    private func syncWhileBehind() {
        while true {
            // The commits this sync covers, and whoever waited for a sync to start on them.
            let next: (through: UInt64, count: UInt64, starting: [@Sendable () -> Void])? = state.withLock { state in
                guard state.synced < state.committed, state.failure == nil else {
                    state.syncing = false
                    return nil
                }
                let through = state.committed
                state.syncStartedThrough = through
                let starting = state.waitingForStart.filter { $0.through <= through }.map(\.then)
                state.waitingForStart.removeAll { $0.through <= through }
                return (through, through - state.synced, starting)
            }
            guard let next else { return }
            for then in next.starting { then() }
            let started = ContinuousClock.now
            let failure = syncLog()
            StoreMetrics.syncDuration.recordNanoseconds(started.duration(to: .now).nanoseconds)
            StoreMetrics.commitsPerSync.record(Int64(next.count))
            let (released, unblocked) = state.withLock { state in
                if let failure { state.failure = failure } else { state.synced = next.through }
                let released = state.waiting.filter { failure != nil || $0.through <= next.through }
                state.waiting.removeAll { failure != nil || $0.through <= next.through }
                // No sync starts after a failure: whoever waits for one goes on (and learns
                // of the failure when it waits for durability).
                let unblocked = failure == nil ? [] : state.waitingForStart
                if failure != nil { state.waitingForStart = [] }
                return (released, unblocked)
            }
            for waiter in released { waiter.then(failure) }
            for waiter in unblocked { waiter.then() }
        }
    }

    /// One fdatasync of the log file: the one open here, or the file at its path once
    /// SQLite has made it anew. A log removed from under the daemon (its database removed
    /// with it) is still synced where SQLite still writes, in the removed file: that the
    /// database is gone is `StorageWatch`'s to report, not a failed sync.
    private func syncLog() -> SyncFailed? {
        let current = FileIdentity(path: logPath)
        if let open = log, let current, open.identity != current {
            close(open.descriptor)
            log = nil
        }
        if log == nil {
            guard let current else { return SyncFailed(path: logPath, code: ENOENT) }
            let descriptor = open(logPath, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return SyncFailed(path: logPath, code: errno) }
            log = (descriptor, current)
        }
        var code: Int32
        repeat { code = sync(log!.descriptor) } while code == EINTR
        return code == 0 ? nil : SyncFailed(path: logPath, code: code)
    }

    // TransactionObserver: told of every commit of the writer connection, nothing else.
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseDidCommit(_ db: Database) { committed() }
    func databaseDidRollback(_ db: Database) {}
}
