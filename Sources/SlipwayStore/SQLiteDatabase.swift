import GRDB

/// The one SQLite database file under `state_dir`, opened, configured and migrated: the
/// stores built on it (`SQLiteBuildStore`, its deployments) share its pool and its
/// storage watch, and a test can hand them a database it opened itself.
///
/// Durability: a write returns only once its commit is durable (it survives a crash of
/// the process and of the machine). The writer commits at `synchronous = NORMAL`, without
/// waiting for the disk, and `WALSyncer` syncs the log for every commit made meanwhile,
/// so the next transactions are written while the last ones are made durable. WAL mode:
/// writers are serialized by the pool; readers run beside them; checkpoints are made in
/// the background (`WALCheckpointer`).
public final class SQLiteDatabase: Sendable {
    public let pool: DatabasePool
    public let path: String
    let storage: StorageWatch
    let syncer: WALSyncer

    public convenience init(path: String) throws {
        try self.init(path: path, sync: nil)
    }

    /// `sync`: how the log is synced (tests hold or fail it); nil: `fdatasync`.
    convenience init(path: String, sync: WALSyncer.Sync?) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            // The writer's own checkpoints only bound the log (WALCheckpointer makes the rest).
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(WALCheckpointer.writerLimit)")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError.cannotOpen(path: path, reason: String(describing: error))
        }
        try self.init(pool: pool, sync: sync)
    }

    /// A pool opened by the caller (its configuration is the caller's): migrated here.
    public convenience init(pool: DatabasePool) throws {
        try self.init(pool: pool, sync: nil)
    }

    init(pool: DatabasePool, sync: WALSyncer.Sync?) throws {
        self.pool = pool
        path = pool.path
        syncer = WALSyncer(databasePath: pool.path, sync: sync)
        do {
            // NORMAL (GRDB's default for a pool's writer, said here so that nothing else is
            // assumed): a commit does not sync; `syncer` does, and every write waits for it.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            try SQLiteMigrations.migrator.migrate(pool)
            pool.add(transactionObserver: syncer, extent: .databaseLifetime)
            // The pool keeps the checkpointer for as long as the database is open.
            pool.add(transactionObserver: WALCheckpointer(path: path), extent: .databaseLifetime)
        } catch {
            throw StoreError.cannotOpen(path: path, reason: String(describing: error))
        }
        storage = StorageWatch(path: path)
    }

    /// One write transaction, carried to its end even when the calling task is cancelled:
    /// a canceled build must still record how it ended, and a caller told "canceled"
    /// must never find its transaction committed after all. (GRDB's async `write` throws
    /// `CancellationError` in a canceled task; its callback form does not look.)
    func writeToCompletion<T: Sendable>(_ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let (value, commit) = try await withCheckedThrowingContinuation { continuation in
            pool.asyncWrite(
                { db in try updates(db) },
                completion: { [syncer] _, result in continuation.resume(with: result.map { ($0, syncer.lastCommit) }) })
        }
        try await syncer.durable(through: commit)
        return value
    }

    /// Why writes cannot be trusted now: the file replaced or storage failing
    /// (`StorageWatch`), or the log could not be made durable (`WALSyncer`). The first
    /// is named first: a database removed under the daemon also takes its log, and the
    /// removal, not the failed sync it causes, is what the operator must hear of.
    var writeProblem: String? { storage.problem ?? syncer.failure.map(\.description) }
}
