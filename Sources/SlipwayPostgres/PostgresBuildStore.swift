import Foundation
import Logging
import PostgresNIO
import SlipwayCore
import SlipwayStore
import Synchronization

/// The store on PostgreSQL, shared by every replica (issue 18). This part: taking
/// deliveries and builds (`BuildIntakeStore`), reading them (`BuildQueryStore`) and
/// saying whether writes can be kept (`StoreHealth`); claiming and running them, each
/// write of an attempt fenced (`BuildLeaseStore`, `BuildRecordStore`), and the status
/// outbox (`PostgresBuildStore+Running.swift`).
///
/// What holds across replicas:
/// - a delivery id is stored once, whichever replica gets it first: the delivery's
///   primary key decides (a redelivery to another replica waits for the first one's
///   transaction, then finds the row and answers duplicate);
/// - the builds of one lane are queued and superseded one transaction at a time: each
///   takes the lane's transaction-scoped advisory lock before it reads the lane, so a
///   push never misses a queued build that another replica is committing;
/// - a replica writes the deliveries that arrive together in one transaction
///   (`PostgresDeliveryGroups`), so a storm of pushes to one branch takes that lane's lock
///   once per group, not once per delivery.
public final class PostgresBuildStore: Sendable {
    let database: PostgresDatabase
    let logger: Logger
    /// This replica, as the leases of the builds it runs name it.
    public let replica: String
    /// How long a claim holds without renewal (`queue.lease`).
    public let lease: Duration
    /// Longest wait for a pooled connection: an unreachable database makes a request
    /// fail (a delivery: 503) instead of waiting for as long as the pool retries.
    let connectionWait: Duration
    public let outboxWritten = WakeSignal()
    private let lastWriteFailure = Mutex<String?>(nil)
    private let deliveryGroups = PostgresDeliveryGroups()

    public init(
        database: PostgresDatabase, replica: String, lease: Duration = .seconds(30), connectionWait: Duration = .seconds(5), logger: Logger
    ) {
        self.database = database
        self.replica = replica
        self.lease = lease
        self.connectionWait = connectionWait
        self.logger = logger
    }

    /// The lease as an interval PostgreSQL adds to its own clock.
    var leaseSeconds: Double { lease.inSeconds }

    /// One transaction on a pooled connection; the error is the one that made it fail
    /// (not postgres-nio's wrapper), and a failure to reach the database is remembered
    /// for `writeProblem` until a write succeeds again.
    ///
    /// A transaction waits at most `connectionWait` for its connection, and is given up
    /// only while it waits: once it has its connection it runs to its end, so a caller is
    /// never told "failed" about something committed. The caller's cancellation does not
    /// reach it (the store's contract, as on SQLite): a build canceled while it records
    /// its step's end still records it.
    /// `control`: on the leases' own pool (`PostgresDatabase.control`).
    func transaction<T: Sendable>(
        control: Bool = false, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let (database, wait, location, reachable, logger) = (database, connectionWait, database.location, database.isReachable, logger)
        do {
            let result = try await Task(executorPreference: PostgresDatabase.executor) {
                try await ConnectionWait.bounded(wait, location: location, reachable: reachable) { begin in
                    let client = control ? await database.control : await database.client
                    return try await client.withTransaction(logger: logger) { connection in
                        try begin()
                        return try await body(connection)
                    }
                }
            }.value
            lastWriteFailure.withLock { $0 = nil }
            return result
        } catch let error as PostgresTransactionError {
            note(error.cause)
            throw error.cause
        } catch {
            note(error)
            throw error
        }
    }

    private func note(_ error: any Error) {
        guard let problem = PostgresProblem.unreachable(error) else { return }
        lastWriteFailure.withLock { $0 = problem }
    }
}

// MARK: - Intake

extension PostgresBuildStore: BuildIntakeStore {
    public func recordDelivery(_ delivery: DeliveryRecord, build request: BuildRequest?, supersedeOlder: Bool) async throws
        -> DeliveryOutcome
    {
        try await deliveryGroups.submit(.init(delivery: delivery, request: request, supersedeOlder: supersedeOlder), to: self)
    }

    /// The same without a task: the webhook's fast path calls this from its event loop.
    public func recordDelivery(
        _ delivery: DeliveryRecord, build request: BuildRequest?, supersedeOlder: Bool,
        completion: @escaping @Sendable (Result<DeliveryOutcome, any Error>) -> Void
    ) {
        deliveryGroups.submit(.init(delivery: delivery, request: request, supersedeOlder: supersedeOlder), to: self, reply: completion)
    }

    /// One delivery in a transaction of its own, after its group's transaction failed: a
    /// group of one, written by the same statements and rules as every group.
    func recordDeliveryAlone(_ entry: DeliveryGroupPlan.Entry) async throws -> DeliveryOutcome {
        guard let outcome = try await writeDeliveryGroup([entry], joining: { _ in [] }).first else {
            throw PostgresProblem.noRowReturned("delivery")
        }
        return outcome
    }

    public func enqueue(_ request: BuildRequest, supersedeOlder: Bool) async throws -> Build {
        let now = Date().timeIntervalSince1970
        let build = try await transaction { [logger] connection in
            try await Self.insertBuild(connection, request, at: now, supersedeOlder: supersedeOlder, logger: logger).0
        }
        outboxWritten.signal()
        return build
    }

    public func reconcileHead(_ request: BuildRequest, supersedeOlder: Bool, queue: Bool) async throws -> ReconcileOutcome {
        let now = Date().timeIntervalSince1970
        let outcome = try await transaction { [logger] connection -> ReconcileOutcome in
            // Under the lane's lock, as every delivery and build of the lane is written.
            try await Self.lockLane(request.lane, connection, logger: logger)
            let lane = request.lane
            let sha = request.sha.hex
            var facts = ListedHeadFacts(existingBuild: nil, announced: false, previouslyListed: nil, branchSeen: false)
            let rows = try await connection.query(
                """
                SELECT (SELECT max(id) FROM build WHERE lane = \(lane) AND sha = \(sha)),
                EXISTS (SELECT 1 FROM delivery WHERE skipped_lane = \(lane) AND skipped_sha = \(sha)),
                (SELECT sha FROM branch_listing WHERE lane = \(lane)),
                EXISTS (SELECT 1 FROM build WHERE lane = \(lane)) OR EXISTS (SELECT 1 FROM delivery WHERE skipped_lane = \(lane))
                """, logger: logger)
            for try await (existing, announced, listed, seen) in rows.decode((Int64?, Bool, String?, Bool).self) {
                facts = ListedHeadFacts(
                    existingBuild: existing, announced: announced, previouslyListed: try BranchListingRow.sha(listed, lane: lane),
                    branchSeen: seen)
            }
            let decision = ReconcileDecision.decide(facts, head: request.sha)
            if decision == .build, !queue { return .decided(.build, existingBuild: nil) }
            _ = try await connection.query(
                """
                INSERT INTO branch_listing (lane, sha, listed_at) VALUES (\(lane), \(sha), \(now))
                ON CONFLICT (lane) DO UPDATE SET sha = excluded.sha, listed_at = excluded.listed_at
                """, logger: logger)
            guard decision == .build else { return .decided(decision, existingBuild: facts.existingBuild) }
            return .queued(try await Self.insertBuild(connection, request, at: now, supersedeOlder: supersedeOlder, logger: logger).0)
        }
        if case .queued = outcome { outboxWritten.signal() }
        return outcome
    }

    /// The new build, queued, and what it superseded (`QueuePolicy`), its pending status
    /// in the outbox: all in the caller's transaction, under the lane's lock.
    static func insertBuild(
        _ connection: PostgresConnection, _ request: BuildRequest, at time: Double, supersedeOlder: Bool, logger: Logger
    ) async throws -> (Build, [Int64]) {
        try await lockLane(request.lane, connection, logger: logger)
        let inserted = try await connection.query(
            """
            INSERT INTO build (repository, ref, lane, sha, clone_url, trigger, delivery_id, state, created_at, attempts)
            VALUES (\(request.repository), \(request.ref), \(request.lane), \(request.sha.hex), \(request.cloneURL),
            \(request.trigger.rawValue), \(request.deliveryID), 'queued', \(time), 0) RETURNING id
            """, logger: logger)
        var newID: Int64?
        for try await id in inserted.decode(Int64.self) { newID = id }
        guard let id = newID else { throw PostgresProblem.noRowReturned("build") }
        let build = Build(
            id: id, repository: request.repository, ref: request.ref, sha: request.sha, cloneURL: request.cloneURL,
            trigger: request.trigger, deliveryID: request.deliveryID, state: .queued, reason: nil, createdAt: time,
            startedAt: nil, finishedAt: nil, attempts: 0)
        var superseded: [Int64] = []
        if QueuePolicy.maySupersede(request, enabled: supersedeOlder) {
            let queued = try await builds(
                connection, where: "lane = $1 AND state = 'queued' AND id < $2", [request.lane, id], logger: logger)
            superseded = QueuePolicy.superseded(
                by: request, newID: id, active: queued.map { (id: $0.id, lane: request.lane, state: $0.state) }, enabled: supersedeOlder)
            for old in queued where superseded.contains(old.id) {
                _ = try await applyTransition(connection, old, .supersede, reason: "superseded by build #\(id)", at: time, logger: logger)
            }
        }
        try await enqueueStatus(connection, build, at: time, logger: logger)
        return (build, superseded)
    }

    /// The seed of the lanes' lock keys (`hashtextextended(lane, seed)`).
    static let laneLockSeed: Int64 = 18

    /// The lane's transaction-scoped advisory lock: one transaction at a time queues,
    /// supersedes or claims builds of a lane, cluster-wide. (Its key is the lane's 64-bit
    /// hash; two lanes sharing a hash only wait for each other.) Without `waiting`, false
    /// when another transaction holds it.
    @discardableResult
    static func lockLane(_ lane: String, waiting: Bool = true, _ connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let seed = laneLockSeed
        guard !waiting else {
            _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(lane), \(seed)))", logger: logger)
            return true
        }
        var taken = false
        for try await value in try await connection.query(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(\(lane), \(seed)))", logger: logger
        ).decode(Bool.self) {
            taken = value
        }
        return taken
    }

    /// The one place a build's state is written (`Build.applying`), with its commit status.
    /// A build that stops running gives its lease up in the same statement (a claim sets
    /// it, `claimRunnable`).
    static func applyTransition(
        _ connection: PostgresConnection, _ current: Build, _ event: BuildEvent, reason: String?, statusSummary: String? = nil,
        at time: Double, logger: Logger
    ) async throws -> Build {
        let build = try current.applying(event, reason: reason, at: time)
        _ = try await connection.query(
            """
            UPDATE build SET state = \(build.state.rawValue), reason = \(build.reason), started_at = \(build.startedAt),
            finished_at = \(build.finishedAt), attempts = \(build.attempts), fence = \(build.fence),
            lease_owner = CASE WHEN \(build.state == .running) THEN lease_owner END,
            lease_expires_at = CASE WHEN \(build.state == .running) THEN lease_expires_at END
            WHERE id = \(build.id)
            """, logger: logger)
        try await enqueueStatus(connection, build, summary: statusSummary, at: time, logger: logger)
        return build
    }

    /// The build's commit status as of now, into the outbox, in the caller's transaction.
    static func enqueueStatus(
        _ connection: PostgresConnection, _ build: Build, summary: String? = nil, at time: Double, logger: Logger
    ) async throws {
        let status = CommitStatus.of(build, failureSummary: summary)
        _ = try await connection.query(
            """
            INSERT INTO status_outbox (build_id, repository, sha, state, description, created_at, next_attempt_at)
            VALUES (\(build.id), \(build.repository), \(build.sha.hex), \(status.state.rawValue), \(status.description), \(time), \(time))
            """, logger: logger)
    }
}

// MARK: - Reading

extension PostgresBuildStore: BuildQueryStore {
    public func build(id: Int64) async throws -> Build? {
        try await database.client.withConnection { [logger] connection in
            try await Self.builds(connection, where: "id = $1", [id], logger: logger).first
        }
    }

    public func builds(_ filter: BuildFilter) async throws -> [Build] {
        var clauses: [String] = []
        var bindings = PostgresBindings()
        if let repository = filter.repository {
            bindings.append(repository)
            clauses.append("lower(repository) = lower($\(bindings.count))")
        }
        if let state = filter.state {
            bindings.append(state.rawValue)
            clauses.append("state = $\(bindings.count)")
        }
        if let before = filter.before {
            bindings.append(before)
            clauses.append("id < $\(bindings.count)")
        }
        bindings.append(filter.limit)
        let condition = clauses.isEmpty ? "TRUE" : clauses.joined(separator: " AND ")
        let query = PostgresQuery(
            unsafeSQL: "SELECT \(PostgresBuildRow.columns) FROM build WHERE \(condition) ORDER BY id DESC LIMIT $\(bindings.count)",
            binds: bindings)
        return try await database.client.withConnection { [logger] connection in
            try await PostgresBuildRow.builds(try await connection.query(query, logger: logger))
        }
    }

    public func provenance(buildID: Int64) async throws -> String? {
        try await database.client.withConnection { [logger] connection in
            var found: String?
            for try await value in try await connection.query("SELECT provenance FROM build WHERE id = \(buildID)", logger: logger)
                .decode(String?.self)
            {
                found = value
            }
            return found
        }
    }

    public func newestBuildPerRef(repository: String) async throws -> [Build] {
        let prefix = BuildLane.key(repository: repository, ref: "")
        let query: PostgresQuery = """
            SELECT \(unescaped: PostgresBuildRow.columns) FROM build WHERE id IN (
                SELECT max(id) FROM build WHERE starts_with(lane, \(prefix)) GROUP BY lane
            ) ORDER BY id DESC
            """
        return try await database.client.withConnection { [logger] connection in
            try await PostgresBuildRow.builds(try await connection.query(query, logger: logger))
        }
    }

    /// The builds `condition` selects (`$1`… are `values`), oldest first, at most `limit`,
    /// locked for the caller's transaction; with `skipLocked`, rows another transaction
    /// holds are left out instead of waited for.
    static func builds(
        _ connection: PostgresConnection, where condition: String, _ values: [any PostgresEncodable & Sendable], limit: Int? = nil,
        skipLocked: Bool = false, logger: Logger
    ) async throws -> [Build] {
        var bindings = PostgresBindings()
        for value in values { try bindings.append(value, context: .default) }
        let limited = limit.map { " LIMIT \($0)" } ?? ""
        let query = PostgresQuery(
            unsafeSQL: "SELECT \(PostgresBuildRow.columns) FROM build WHERE \(condition) ORDER BY id\(limited) FOR UPDATE"
                + (skipLocked ? " SKIP LOCKED" : ""),
            binds: bindings)
        return try await PostgresBuildRow.builds(try await connection.query(query, logger: logger))
    }

    public func steps(buildID: Int64) async throws -> [StepRecord] {
        try await database.client.withConnection { [logger] connection in
            let rows = try await connection.query(
                """
                SELECT build_id, attempt, name, state, started_at, finished_at, exit_code, detail FROM build_step
                WHERE build_id = \(buildID) ORDER BY attempt, started_at, name
                """, logger: logger)
            var steps: [StepRecord] = []
            for try await (build, attempt, name, stored, started, finished, exitCode, detail) in rows.decode(
                (Int64, Int, String, String, Double, Double?, Int32?, String?).self)
            {
                guard let state = StepState(rawValue: stored) else {
                    throw StoredValueError(table: "build_step", row: "\(build)/\(attempt)/\(name)", column: "state", value: stored)
                }
                steps.append(
                    StepRecord(
                        buildID: build, attempt: attempt, name: name, state: state, startedAt: started, finishedAt: finished,
                        exitCode: exitCode, detail: detail))
            }
            return steps
        }
    }

    public func delivery(id: String) async throws -> DeliveryRecord? {
        try await database.client.withConnection { [logger] connection in
            let rows = try await connection.query(
                "SELECT id, event, repository, received_at, result, build_id FROM delivery WHERE id = \(id)", logger: logger)
            var found: DeliveryRecord?
            for try await (id, event, repository, receivedAt, stored, buildID) in rows.decode(
                (String, String, String?, Double, String, Int64?).self)
            {
                guard let result = DeliveryDisposition(stored: stored) else {
                    throw StoredValueError(table: "delivery", row: id, column: "result", value: stored)
                }
                found = DeliveryRecord(
                    id: id, event: event, repository: repository, receivedAt: receivedAt, result: result, buildID: buildID)
            }
            return found
        }
    }

    public func countByState() async throws -> [BuildState: Int] {
        try await database.client.withConnection { [logger] connection in
            let rows = try await connection.query("SELECT state, count(*), min(id) FROM build GROUP BY state", logger: logger)
            var counts: [BuildState: Int] = [:]
            for try await (stored, count, firstID) in rows.decode((String, Int, Int64).self) {
                guard let state = BuildState(rawValue: stored) else {
                    throw StoredValueError(table: "build", row: "\(firstID)", column: "state", value: stored)
                }
                counts[state] = count
            }
            return counts
        }
    }
}

// MARK: - Health

extension PostgresBuildStore: StoreHealth {
    /// /readyz: one row written, so a database that takes no writes (read-only, a
    /// standby, a full disk) is not ready either.
    public func ping() async throws {
        let now = Date().timeIntervalSince1970
        try await transaction { [logger] connection in
            _ = try await connection.query(
                "INSERT INTO readiness (id, checked_at) VALUES (1, \(now)) ON CONFLICT (id) DO UPDATE SET checked_at = EXCLUDED.checked_at",
                logger: logger)
        }
    }

    /// The database could not be reached on the last write (until one succeeds again).
    public var writeProblem: String? { lastWriteFailure.withLock { $0 } }
}
