import Logging
import PostgresNIO

/// The PostgreSQL schema, as numbered migrations applied in order. Never edit one that
/// has been released: add another.
///
/// Several replicas start at once on one database (a deploy rolls them together): each
/// runs `apply` in a transaction that first takes one transaction-scoped advisory lock,
/// so the first replica applies what is missing while the others wait on the lock, then
/// find every migration recorded and apply nothing. A replica that dies half-way rolls
/// its transaction back, lock and all, and the next one starts over.
enum PostgresMigrations {
    struct Migration {
        let version: Int
        let name: String
        let sql: [String]
    }

    /// The advisory lock's key: "slipway" as ASCII, so that it is unlikely to collide with
    /// another application's lock on a shared server.
    static let lockKey: Int64 = 0x736C_6970_7761_79

    static let all: [Migration] = [
        Migration(
            version: 1, name: "deliveries, builds, steps, logs, outbox, deployments, leases",
            sql: [
                """
                CREATE TABLE delivery (
                    id TEXT PRIMARY KEY,                    -- X-GitHub-Delivery: the de-duplication key, cluster-wide
                    event TEXT NOT NULL,
                    repository TEXT,
                    received_at DOUBLE PRECISION NOT NULL,
                    result TEXT NOT NULL,
                    build_id BIGINT
                )
                """,
                """
                CREATE TABLE build (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    repository TEXT NOT NULL,
                    ref TEXT NOT NULL,
                    lane TEXT NOT NULL,
                    sha TEXT NOT NULL,
                    clone_url TEXT,
                    trigger TEXT NOT NULL,
                    delivery_id TEXT REFERENCES delivery(id),
                    state TEXT NOT NULL,
                    reason TEXT,
                    created_at DOUBLE PRECISION NOT NULL,
                    started_at DOUBLE PRECISION,
                    finished_at DOUBLE PRECISION,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    image_name TEXT,
                    image_tags TEXT,                        -- JSON array
                    image_digest TEXT,
                    model_source TEXT,
                    model_version TEXT,
                    model_sha256 TEXT,
                    -- The running attempt's lease: which replica runs it and until when, on the
                    -- database's clock (replicas' clocks may differ). `fence` grows with every
                    -- claim; each write for an attempt names the fence it was claimed with.
                    lease_owner TEXT,
                    lease_expires_at TIMESTAMPTZ,
                    fence BIGINT NOT NULL DEFAULT 0
                )
                """,
                "CREATE INDEX build_by_state ON build (state, id)",
                "CREATE INDEX build_by_lane_state ON build (lane, state, id)",
                "CREATE INDEX build_deployable ON build (repository, id) WHERE state = 'success' AND image_digest IS NOT NULL",
                "CREATE INDEX build_lease_expiry ON build (lease_expires_at) WHERE state = 'running'",
                """
                CREATE TABLE build_step (
                    build_id BIGINT NOT NULL REFERENCES build(id),
                    attempt INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    state TEXT NOT NULL,
                    started_at DOUBLE PRECISION NOT NULL,
                    finished_at DOUBLE PRECISION,
                    exit_code INTEGER,
                    detail TEXT,
                    PRIMARY KEY (build_id, attempt, name)
                )
                """,
                """
                CREATE TABLE build_log (                    -- a build's log, readable from any replica
                    build_id BIGINT NOT NULL REFERENCES build(id),
                    attempt INTEGER NOT NULL,
                    seq BIGINT NOT NULL,
                    chunk BYTEA NOT NULL,
                    written_at DOUBLE PRECISION NOT NULL,
                    PRIMARY KEY (build_id, attempt, seq)
                )
                """,
                """
                CREATE TABLE status_outbox (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- delivery order
                    build_id BIGINT NOT NULL REFERENCES build(id),
                    repository TEXT NOT NULL,
                    sha TEXT NOT NULL,
                    state TEXT NOT NULL,
                    description TEXT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at DOUBLE PRECISION NOT NULL,
                    delivered_at DOUBLE PRECISION,
                    closed_reason TEXT
                )
                """,
                "CREATE INDEX status_outbox_open ON status_outbox (id) WHERE delivered_at IS NULL AND closed_reason IS NULL",
                """
                CREATE TABLE deployment (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    repository TEXT NOT NULL,
                    build_id BIGINT NOT NULL REFERENCES build(id),
                    image TEXT NOT NULL,
                    model_version TEXT,
                    trigger TEXT NOT NULL,
                    requested_by TEXT NOT NULL,
                    state TEXT NOT NULL,
                    reason TEXT,
                    created_at DOUBLE PRECISION NOT NULL,
                    started_at DOUBLE PRECISION,
                    finished_at DOUBLE PRECISION,
                    lease_owner TEXT,                       -- the replica running it, as for builds
                    lease_expires_at TIMESTAMPTZ
                )
                """,
                "CREATE INDEX deployment_by_repository ON deployment (repository, id)",
                // One deployment of a repository queued or running at a time, cluster-wide.
                "CREATE UNIQUE INDEX deployment_active ON deployment (repository) WHERE state IN ('queued', 'running')",
                """
                CREATE TABLE deploy_schedule (
                    repository TEXT PRIMARY KEY,
                    checked_until DOUBLE PRECISION NOT NULL
                )
                """,
                "CREATE TABLE readiness (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at DOUBLE PRECISION NOT NULL)",
                """
                CREATE TABLE singleton_lease (              -- outbox poster, model watchers, deploy scheduler
                    name TEXT PRIMARY KEY,
                    owner TEXT NOT NULL,
                    expires_at TIMESTAMPTZ NOT NULL,
                    fence BIGINT NOT NULL
                )
                """,
            ]),
        Migration(
            version: 2, name: "log chunks at byte offsets",
            sql: [
                // Where each chunk starts in the build's whole log (every attempt in turn):
                // a follower resumes at a byte offset (`?offset=`, `Last-Event-ID`).
                "ALTER TABLE build_log ADD COLUMN byte_offset BIGINT NOT NULL DEFAULT 0",
                "CREATE UNIQUE INDEX build_log_offset ON build_log (build_id, byte_offset)",
            ]),
        Migration(
            version: 3, name: "bytes a push uploaded",
            sql: [
                // What each push sent to the registry (`ImageProvenance.uploadedBytes`).
                "ALTER TABLE build ADD COLUMN image_uploaded_bytes BIGINT"
            ]),
        Migration(
            version: 4, name: "reconcile's branch listings and skipped heads",
            sql: [
                // The head each branch had at reconcile's last listing, the head a `[skip ci]`
                // push named (only those deliveries enter the index), and the builds
                // reconcile queued, looked up by every push (only those enter it).
                """
                CREATE TABLE branch_listing (
                    lane TEXT PRIMARY KEY,
                    sha TEXT NOT NULL,
                    listed_at DOUBLE PRECISION NOT NULL
                )
                """,
                "ALTER TABLE delivery ADD COLUMN skipped_lane TEXT",
                "ALTER TABLE delivery ADD COLUMN skipped_sha TEXT",
                "CREATE INDEX delivery_skipped_head ON delivery (skipped_lane, skipped_sha) WHERE skipped_lane IS NOT NULL",
                "CREATE INDEX build_reconciled ON build (lane, sha) WHERE trigger = 'reconcile'",
            ]),
        Migration(
            version: 5, name: "signed provenance",
            sql: [
                // The pushed image's attestation, a DSSE envelope (JSON).
                "ALTER TABLE build ADD COLUMN provenance TEXT"
            ]),
    ]

    /// What a database says it has applied, and what this version knows.
    enum Problem: Error, CustomStringConvertible {
        case newerSchema(version: Int, known: Int)

        var description: String {
            switch self {
            case .newerSchema(let version, let known):
                "the database's schema is version \(version), newer than this slipwayd knows (\(known)): run the newer version"
            }
        }
    }

    /// Applies the migrations the database lacks, in one transaction under the advisory
    /// lock; returns the versions this call applied.
    static func apply(on connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        do {
            return try await connection.withTransaction(logger: logger) { connection in
                try await applyMissing(connection, logger: logger)
            }
        } catch let error as PostgresTransactionError {
            throw error.cause
        }
    }

    private static func applyMissing(_ connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        _ = try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
        _ = try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migration (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
            """, logger: logger)
        var applied = Set<Int>()
        for try await version in try await connection.query("SELECT version FROM schema_migration", logger: logger).decode(Int.self) {
            applied.insert(version)
        }
        let known = all.map(\.version).max() ?? 0
        if let newest = applied.max(), newest > known { throw Problem.newerSchema(version: newest, known: known) }
        var done: [Int] = []
        for migration in all where !applied.contains(migration.version) {
            for statement in migration.sql {
                _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            _ = try await connection.query(
                "INSERT INTO schema_migration (version, name) VALUES (\(migration.version), \(migration.name))", logger: logger)
            logger.notice("database schema migrated", metadata: ["version": "\(migration.version)", "migration": "\(migration.name)"])
            done.append(migration.version)
        }
        return done
    }
}
