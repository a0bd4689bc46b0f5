import Dispatch
import GRDB
import GRDBSQLite
import Synchronization

/// Keeps SQLite's checkpoints off the write path. In WAL mode a commit only appends to the
/// log; copying the log back into the database file (a checkpoint: the copy, then an
/// fsync of the file) is by default done by the connection that commits, right after the
/// commit, every 1,000 pages. The writer then holds the next group of deliveries for
/// it: under load that was the largest part of the slowest 1 % of answers.
///
/// Here every `commitsPerPass`-th commit only wakes a queue of the checkpointer's own,
/// with its own connection, which checkpoints in PASSIVE mode (never waiting for, nor
/// blocking, the writer or the readers), at most once per `pause`. Counting commits keeps a
/// quiet daemon (a build's log lines, a status now and then) from paying a copy and an
/// fsync of the database file for every small transaction. The writer still checkpoints itself once
/// the log reaches `writerLimit` pages (16 MB): under continuous writes only the writer
/// can start the log over (a background pass always finds newer pages behind it), and
/// by then nearly all of the log has been copied, so its pass is short. Longer pauses
/// or a higher limit measured worse: bigger copies, longer fsyncs. Durability is not
/// touched: a transaction is durable once its commit is in the log.
final class WALCheckpointer: TransactionObserver, Sendable {
    static let writerLimit = 4_000
    static let commitsPerPass = 32
    static let pause: DispatchTimeInterval = .milliseconds(50)

    private let path: String
    private let queue = DispatchQueue(label: "slipway.sqlite.checkpoint")
    private let scheduled = Atomic<Bool>(false)
    private let commitsSincePass = Atomic<Int>(0)
    private let lastPass = Atomic<UInt64>(0)   // DispatchTime.uptimeNanoseconds
    /// Opened on first use; used on `queue` only.
    private let connection = Mutex<OpaquePointer?>(nil)

    init(path: String) {
        self.path = path
    }

    deinit {
        connection.withLock { if let handle = $0 { sqlite3_close_v2(handle) } }
    }

    /// Counts a commit; wakes the checkpointer at every `commitsPerPass`-th, at once or
    /// `pause` after its last pass, whichever is later.
    func committed() {
        guard commitsSincePass.add(1, ordering: .relaxed).newValue >= Self.commitsPerPass,
            !scheduled.exchange(true, ordering: .acquiringAndReleasing)
        else { return }
        let earliest = DispatchTime(uptimeNanoseconds: lastPass.load(ordering: .relaxed)) + Self.pause
        queue.asyncAfter(deadline: max(.now(), earliest)) { [weak self] in
            guard let self else { return }
            scheduled.store(false, ordering: .releasing)
            commitsSincePass.store(0, ordering: .relaxed)
            checkpoint()
            lastPass.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
        }
    }

    /// One PASSIVE checkpoint: copies what the log holds that no reader still needs.
    /// Failures are left to the next pass and to the writer's own checkpoint: a missed
    /// checkpoint only leaves the log longer.
    func checkpoint() {
        connection.withLock { handle in
            if handle == nil {
                var opened: OpaquePointer?
                // A read makes the new connection see the file's WAL mode; a checkpoint before
                // it does nothing.
                guard sqlite3_open_v2(path, &opened, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK,
                    sqlite3_exec(opened, "SELECT count(*) FROM sqlite_schema", nil, nil, nil) == SQLITE_OK
                else {
                    sqlite3_close_v2(opened)
                    return
                }
                handle = opened
            }
            _ = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
        }
    }

    // TransactionObserver: told of every commit of the writer connection, nothing else.
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseDidCommit(_ db: Database) { committed() }
    func databaseDidRollback(_ db: Database) {}
}
