import Logging
import PostgresNIO
import SlipwayCore
import SlipwayStore

/// Which replica runs each job that must run once in the cluster (the status outbox
/// poster, the model watchers, the deploy scheduler): a row of `singleton_lease` per job
/// names its holder and until when, on the database's clock. The holder renews it well
/// before it runs out; when the holder dies, the lease runs out and the next replica to
/// ask takes it. `fence` grows each time the job changes hands, so a stale holder's work
/// can be told from its successor's.
public struct PostgresSingletonLeases: Sendable {
    let database: PostgresDatabase
    let replica: String
    public let lease: Duration
    let logger: Logger

    public init(database: PostgresDatabase, replica: String, lease: Duration = .seconds(30), logger: Logger) {
        self.database = database
        self.replica = replica
        self.lease = lease
        self.logger = logger
    }

    /// A job held: its name and the fence it was taken with.
    public struct Held: Sendable, Equatable {
        public let job: String
        public let fence: Int64
    }

    /// Takes `job`, or keeps it for another lease when this replica holds it; nil while
    /// another replica holds a lease that has not run out. One statement: two replicas
    /// asking at once cannot both get it.
    public func hold(_ job: String) async throws -> Held? {
        let seconds = lease.inSeconds
        let rows = try await database.control.query(
            """
            INSERT INTO singleton_lease (name, owner, expires_at, fence)
            VALUES (\(job), \(replica), clock_timestamp() + make_interval(secs => \(seconds)), 1)
            ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at,
                fence = CASE WHEN singleton_lease.owner = EXCLUDED.owner THEN singleton_lease.fence ELSE singleton_lease.fence + 1 END
            WHERE singleton_lease.owner = EXCLUDED.owner OR singleton_lease.expires_at < clock_timestamp()
            RETURNING fence
            """, logger: logger)
        var held: Held?
        for try await fence in rows.decode(Int64.self) { held = Held(job: job, fence: fence) }
        return held
    }

    /// Gives `job` up (a graceful stop), so that another replica takes it at once rather
    /// than after the lease; a job this replica does not hold is left alone.
    public func release(_ job: String) async throws {
        _ = try await database.control.query(
            "UPDATE singleton_lease SET expires_at = clock_timestamp() WHERE name = \(job) AND owner = \(replica)", logger: logger)
    }
}

extension PostgresSingletonLeases: SingletonJobs {
    public func hold(job: String) async -> Bool {
        do {
            return try await hold(job) != nil
        } catch {
            logger.warning("cannot renew the lease of a job that runs on one replica", metadata: ["job": "\(job)", "error": "\(error)"])
            return false
        }
    }

    public func release(job: String) async {
        try? await release(job)
    }
}
