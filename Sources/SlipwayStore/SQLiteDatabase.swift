import GRDB

/// The one SQLite database file under `state_dir`, opened, configured and migrated: the
/// stores built on it (`SQLiteBuildStore`, its deployments) share its pool and its
/// storage watch, and a test can hand them a database it opened itself.
///
/// Durability: `synchronous = FULL`, so a transaction that has returned survives a crash
/// of the process and of the machine. WAL mode: writers are serialized by the pool;
/// readers run beside them; checkpoints are made in the background (`WALCheckpointer`).
public final class SQLiteDatabase: Sendable {
    public let pool: DatabasePool
    public let path: String
    let storage: StorageWatch

    public convenience init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
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
        try self.init(pool: pool)
    }

    /// A pool opened by the caller (its configuration is the caller's): migrated here.
    public init(pool: DatabasePool) throws {
        self.pool = pool
        path = pool.path
        do {
            // GRDB sets `synchronous = NORMAL` on a pool's writer when it turns WAL on, after
            // `prepareDatabase` has run: in WAL mode NORMAL syncs only at checkpoints, so a
            // commit that has returned survives a crash of the process but not of the
            // machine. FULL syncs the WAL at every commit, which a 202 promises.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try SQLiteMigrations.migrator.migrate(pool)
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
        try await withCheckedThrowingContinuation { continuation in
            pool.asyncWrite({ db in try updates(db) }, completion: { _, result in continuation.resume(with: result) })
        }
    }
}
