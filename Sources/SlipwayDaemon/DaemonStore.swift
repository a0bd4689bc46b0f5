import Foundation
import Logging
import ServiceLifecycle
import SlipwayCore
import SlipwayPipeline
import SlipwayPostgres
import SlipwayStore

/// The store the daemon runs on (`database:`): SQLite in the state directory, or the
/// PostgreSQL database this replica shares with the others.
struct DaemonStore: Sendable {
    let store: any BuildStore & DeploymentStore
    /// PostgreSQL: this replica's builds hold leases (`LeaseKeeper` keeps them).
    let leases: (any BuildLeaseRenewal & BuildLeaseStore)?
    /// PostgreSQL: what the replicas tell each other.
    let replicas: (any ReplicaEvents)?
    /// PostgreSQL: the jobs that run on one replica at a time.
    let singletons: (any SingletonJobs)?
    /// PostgreSQL: build logs, copied for every replica to read.
    let logArchive: (any BuildLogArchive)?
    /// PostgreSQL: the connection pool, kept until `close()`.
    private let pool: Task<Void, Never>?

    static func open(_ config: Config, _ resolved: ResolvedConfig, logger: Logger) async throws -> DaemonStore {
        switch config.database {
        case .sqlite:
            let store = SQLiteBuildStore(database: try SQLiteDatabase(path: "\(config.stateDirectory)/slipway.sqlite"))
            return DaemonStore(store: store, leases: nil, replicas: nil, singletons: nil, logArchive: nil, pool: nil)
        case .postgres(let location):
            let password = config.databasePassword.flatMap { resolved.secret($0) }
            // Half a lease: a replica stalled inside a transaction for that long is treated
            // as gone before its lease runs out, so that its builds can be taken over.
            let database = PostgresDatabase(
                location: location, password: password, idleInTransaction: config.queue.lease / 2, logger: logger)
            let applied = try await database.migrate()
            if !applied.isEmpty { logger.notice("database schema migrated", metadata: ["versions": "\(applied)"]) }
            // The pool runs apart from the service group: start-up (recovery of
            // interrupted deployments) and the drain at shutdown use it outside the group.
            let pool = Task { await database.run() }
            let replica = replicaName()
            logger.notice(
                "sharing the PostgreSQL database with any other replicas",
                metadata: ["replica": "\(replica)", "database": "\(location.host):\(location.port)/\(location.database)"])
            let store = PostgresBuildStore(database: database, replica: replica, lease: config.queue.lease, logger: logger)
            return DaemonStore(
                store: store, leases: store, replicas: PostgresReplicaEvents(database: database, logger: logger),
                singletons: PostgresSingletonLeases(database: database, replica: replica, lease: config.queue.lease, logger: logger),
                logArchive: store, pool: pool)
        }
    }

    /// `service` as it runs in the cluster: on one replica at a time (PostgreSQL), or here.
    func once(_ job: String, _ service: any Service, logger: Logger) -> any Service {
        guard let singletons else { return service }
        return SingletonService(job: job, jobs: singletons, service: service, logger: logger)
    }

    /// Ends the pool (after the service group, whose drain may still write).
    func close() { pool?.cancel() }

    /// Names this process among the replicas: host, pid, and a random part, so a
    /// restarted replica (same host, maybe the same pid) never takes its old leases for
    /// its own.
    private static func replicaName() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return "\(host)-\(getpid())-\(random)"
    }
}
