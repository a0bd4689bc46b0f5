import Foundation
import GRDB
import SlipwayCore

/// The embedded default store, on one SQLite file (`SQLiteDatabase`). A delivery's 202
/// is only sent after its transaction has committed; deliveries that arrive together
/// share one commit (`DeliveryGroupCommit`).
public final class SQLiteBuildStore: BuildStore {
    public let database: SQLiteDatabase
    var pool: DatabasePool { database.pool }
    public var path: String { database.path }
    var storage: StorageWatch { database.storage }
    private let deliveries: DeliveryGroupCommit
    public let outboxWritten = WakeSignal()

    public init(database: SQLiteDatabase) {
        self.database = database
        deliveries = DeliveryGroupCommit(database: database)
    }

    public convenience init(path: String) throws {
        self.init(database: try SQLiteDatabase(path: path))
    }

    public func recordDelivery(_ delivery: DeliveryRecord, build request: BuildRequest?, supersedeOlder: Bool) async throws
        -> DeliveryOutcome
    {
        try await withCheckedThrowingContinuation { reply in
            recordDelivery(delivery, build: request, supersedeOlder: supersedeOlder) { reply.resume(with: $0) }
        }
    }

    public func recordDelivery(
        _ delivery: DeliveryRecord, build request: BuildRequest?, supersedeOlder: Bool,
        completion: @escaping @Sendable (Result<DeliveryOutcome, any Error>) -> Void
    ) {
        // Everything that does not need the database is made here, before the writer's
        // turn: the writer only binds and steps.
        let deliveryRow: [DirectStatement.Value] = [
            .text(delivery.id), .text(delivery.event), .text(delivery.repository), .real(delivery.receivedAt),
            .text(delivery.result.description), .text(delivery.skippedHead?.lane), .text(delivery.skippedHead?.sha.hex),
        ]
        let buildRow = request.map { NewBuildRow($0, at: delivery.receivedAt) }
        let outboxWritten = outboxWritten
        deliveries.submit(
            { db, transaction in
                try DirectStatement.run(
                    db,
                    sql:
                        """
                        INSERT INTO delivery (id, event, repository, received_at, result, skipped_lane, skipped_sha)
                        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING
                        """,
                    deliveryRow)
                guard db.changesCount == 1 else {
                    let existing = try db.cachedInt64(sql: "SELECT build_id FROM delivery WHERE id = ?", arguments: [delivery.id])
                    return .duplicate(buildID: existing)
                }
                guard let buildRow else { return .stored(build: nil, superseded: []) }
                if buildRow.request.trigger == .push,
                    let reconciled = try db.cachedInt64(
                        sql: "SELECT id FROM build WHERE lane = ? AND sha = ? AND trigger = 'reconcile' LIMIT 1",
                        arguments: [buildRow.request.lane, buildRow.request.sha.hex])
                {
                    try DirectStatement.run(
                        db, sql: "UPDATE delivery SET result = ?, build_id = ? WHERE id = ?",
                        [
                            .text(DeliveryDisposition.ignored(reason: DeliveryOutcome.builtByReconcileReason(reconciled)).description),
                            .integer(reconciled), .text(delivery.id),
                        ])
                    return .builtByReconcile(buildID: reconciled)
                }
                let (build, superseded) = try Self.insertBuild(db, buildRow, supersedeOlder: supersedeOlder, group: transaction)
                try DirectStatement.run(db, sql: "UPDATE delivery SET build_id = ? WHERE id = ?", [.integer(build.id), .text(delivery.id)])
                return .stored(build: build, superseded: superseded)
            },
            reply: { outcome in
                if case .success(.stored(_?, _)) = outcome { outboxWritten.signal() }
                completion(outcome)
            })
    }

    public func enqueue(_ request: BuildRequest, supersedeOlder: Bool) async throws -> Build {
        let row = NewBuildRow(request, at: Date().timeIntervalSince1970)
        let build = try await write { db in try Self.insertBuild(db, row, supersedeOlder: supersedeOlder).0 }
        outboxWritten.signal()
        return build
    }

    public func reconcileHead(_ request: BuildRequest, supersedeOlder: Bool, queue: Bool) async throws -> ReconcileOutcome {
        let row = NewBuildRow(request, at: Date().timeIntervalSince1970)
        let outcome = try await write { db -> ReconcileOutcome in
            // The writer's transaction is the lane's lock here: one writer at a time.
            let lane = request.lane
            let sha = request.sha.hex
            let facts = ListedHeadFacts(
                existingBuild: try db.cachedInt64(
                    sql: "SELECT id FROM build WHERE lane = ? AND sha = ? ORDER BY id DESC LIMIT 1", arguments: [lane, sha]),
                announced: try db.cachedInt64(
                    sql: "SELECT 1 FROM delivery WHERE skipped_lane = ? AND skipped_sha = ? LIMIT 1", arguments: [lane, sha]) != nil,
                previouslyListed: try BranchListingRow.sha(
                    String.fetchOne(db, sql: "SELECT sha FROM branch_listing WHERE lane = ?", arguments: [lane]), lane: lane),
                branchSeen: try db.cachedInt64(sql: "SELECT 1 FROM build WHERE lane = ? LIMIT 1", arguments: [lane]) != nil
                    || db.cachedInt64(sql: "SELECT 1 FROM delivery WHERE skipped_lane = ? LIMIT 1", arguments: [lane]) != nil)
            let decision = ReconcileDecision.decide(facts, head: request.sha)
            if decision == .build, !queue { return .decided(.build, existingBuild: nil) }
            try DirectStatement.run(
                db,
                sql: """
                    INSERT INTO branch_listing (lane, sha, listed_at) VALUES (?, ?, ?)
                    ON CONFLICT(lane) DO UPDATE SET sha = excluded.sha, listed_at = excluded.listed_at
                    """,
                [.text(lane), .text(sha), .real(row.time)])
            guard decision == .build else { return .decided(decision, existingBuild: facts.existingBuild) }
            return .queued(try Self.insertBuild(db, row, supersedeOlder: supersedeOlder).0)
        }
        if case .queued = outcome { outboxWritten.signal() }
        return outcome
    }

    /// A build to insert, its column values made before the writer's turn.
    struct NewBuildRow: Sendable {
        let request: BuildRequest
        let time: Double
        let values: [DirectStatement.Value]

        init(_ request: BuildRequest, at time: Double) {
            self.request = request
            self.time = time
            values = [
                .text(request.repository), .text(request.ref), .text(request.lane), .text(request.sha.hex), .text(request.cloneURL),
                .text(request.trigger.rawValue), .text(request.deliveryID), .real(time),
            ]
        }
    }

    /// `group`: what the current delivery transaction has written (see
    /// `DeliveryTransaction`); nil outside a delivery group.
    private static func insertBuild(
        _ db: Database, _ row: NewBuildRow, supersedeOlder: Bool, group: DeliveryTransaction? = nil
    ) throws -> (Build, [Int64]) {
        let request = row.request
        try DirectStatement.run(
            db,
            sql: """
                INSERT INTO build (repository, ref, lane, sha, clone_url, trigger, delivery_id, state, created_at, attempts)
                VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, 0)
                """,
            row.values)
        let id = db.lastInsertedRowID
        // The new build as just written (no read back), and the queued builds of its lane.
        let build = Build(
            id: id, repository: request.repository, ref: request.ref, sha: request.sha, cloneURL: request.cloneURL,
            trigger: request.trigger, deliveryID: request.deliveryID, state: .queued, reason: nil, createdAt: row.time,
            startedAt: nil, finishedAt: nil, attempts: 0)
        // With superseding on, each push supersedes the queued builds of its lane, so few
        // are there to read; with it off, a lane may hold thousands, and none is read.
        // Within a group, a lane is read once: the group then knows its queued builds.
        let maySupersede = QueuePolicy.maySupersede(request, enabled: supersedeOlder)
        let known = group?.queuedInLane[request.lane]
        let queued =
            maySupersede
            ? try known
                ?? DirectStatement.rows(
                    db, sql: "SELECT \(buildColumns) FROM build WHERE lane = ? AND state = 'queued' AND id < ?",
                    [.text(request.lane), .integer(id)], Self.build(from:))
            : []
        let superseded = QueuePolicy.superseded(
            by: request, newID: id, active: queued.map { (id: $0.id, lane: request.lane, state: $0.state) },
            enabled: supersedeOlder)
        for old in queued where superseded.contains(old.id) {
            _ = try applyTransition(db, old, .supersede, reason: "superseded by build #\(id)", at: row.time, statuses: group)
        }
        try enqueueStatus(db, build, at: row.time, statuses: group)
        if let group {
            if maySupersede {
                group.queuedInLane[request.lane] = queued.filter { !superseded.contains($0.id) } + [build]
            } else if known != nil {
                group.queuedInLane[request.lane]?.append(build)
            }
        }
        return (build, superseded)
    }

    public func claimRunnable(freeWorkers: Int, heldLanes: Set<String>) async throws -> [Build] {
        // The candidates are chosen on a reader: finding the oldest queued build of each
        // lane reads every queued entry of the index, which must not hold the writer (and
        // the deliveries waiting for it) when a long queue has piled up.
        let candidates = try await pool.read { db in try Self.runnable(db, freeWorkers: freeWorkers, heldLanes: heldLanes) }
        guard !candidates.isEmpty else { return [] }
        // The writer only re-checks them: each is still queued and its lane still free.
        // Nothing older can have been queued in its lane meanwhile (ids only grow).
        let claimed = try await write { db in
            let now = Date().timeIntervalSince1970
            var busy = try Self.runningLanes(db).union(heldLanes)
            return try candidates.compactMap { (id: Int64) -> Build? in
                guard let build = try Self.fetchBuild(db, id), build.state == .queued, !busy.contains(build.lane) else { return nil }
                busy.insert(build.lane)
                return try Self.applyTransition(db, build, .start, reason: nil, at: now)
            }
        }
        if !claimed.isEmpty { outboxWritten.signal() }
        return claimed
    }

    private static func runnable(_ db: Database, freeWorkers: Int, heldLanes: Set<String>) throws -> [Int64] {
        // Only the oldest queued build of each lane can start (QueuePolicy keeps lanes in
        // order), so only those are read, however many are queued.
        let queued = try db.cachedRows(sql: "SELECT MIN(id) AS id, lane FROM build WHERE state = 'queued' GROUP BY lane")
            .map { QueuePolicy.Candidate(id: $0["id"], lane: $0["lane"]) }
        guard !queued.isEmpty else { return [] }
        return QueuePolicy.runnable(queued: queued, runningLanes: try runningLanes(db).union(heldLanes), freeWorkers: freeWorkers)
    }

    private static func runningLanes(_ db: Database) throws -> Set<String> {
        Set(try String.fetchAll(db.cachedStatement(sql: "SELECT lane FROM build WHERE state = 'running'")))
    }

    @discardableResult
    public func transition(_ id: Int64, _ event: BuildEvent, reason: String?, statusSummary: String?, fence: Int64?) async throws
        -> Build?
    {
        let build = try await write { db -> Build? in
            guard let current = try Self.fetchBuild(db, id) else { return nil }
            if let fence, current.fence != fence { throw StaleAttempt(buildID: id, fence: fence) }
            return try Self.applyTransition(
                db, current, event, reason: reason, statusSummary: statusSummary, at: Date().timeIntervalSince1970)
        }
        if build != nil { outboxWritten.signal() }
        return build
    }

    private static func applyTransition(
        _ db: Database, _ id: Int64, _ event: BuildEvent, reason: String?, statusSummary: String? = nil,
        at time: Double
    ) throws -> Build? {
        guard let build = try fetchBuild(db, id) else { return nil }
        return try applyTransition(db, build, event, reason: reason, statusSummary: statusSummary, at: time)
    }

    /// The one place a build's state is written. `current` is the build as stored now.
    private static func applyTransition(
        _ db: Database, _ current: Build, _ event: BuildEvent, reason: String?, statusSummary: String? = nil,
        at time: Double, statuses: DeliveryTransaction? = nil
    ) throws -> Build {
        let build = try current.applying(event, reason: reason, at: time)
        let id = build.id
        try DirectStatement.run(
            db, sql: "UPDATE build SET state = ?, reason = ?, started_at = ?, finished_at = ?, attempts = ?, fence = ? WHERE id = ?",
            [
                .text(build.state.rawValue), .text(build.reason), .real(build.startedAt), .real(build.finishedAt),
                .integer(Int64(build.attempts)), .integer(build.fence), .integer(id),
            ])
        try enqueueStatus(db, build, summary: statusSummary, at: time, statuses: statuses)
        return build
    }

    public func recoverInterrupted() async throws -> [Build] {
        defer { outboxWritten.signal() }
        return try await write { db in
            let now = Date().timeIntervalSince1970
            let interrupted = try db.cachedRows(sql: "SELECT id, attempts FROM build WHERE state = 'running' ORDER BY id")
            return try interrupted.compactMap { row in
                let attempts: Int = row["attempts"]
                let left = attempts < QueuePolicy.maxAttempts
                let reason =
                    left
                    ? "re-queued after the daemon stopped during the build"
                    : "the daemon stopped during this build \(attempts) times; not retried again"
                let build = try Self.applyTransition(db, row["id"], .crashRecovered(attemptsLeft: left), reason: reason, at: now)
                try db.run(
                    sql:
                        "UPDATE build_step SET state = 'error', finished_at = ?, detail = 'interrupted: the daemon stopped' WHERE build_id = ? AND state = 'running'",
                    arguments: [now, row["id"] as Int64])
                return build
            }
        }
    }

    public func build(id: Int64) async throws -> Build? {
        try await pool.read { db in try Self.fetchBuild(db, id) }
    }

    public func builds(_ filter: BuildFilter) async throws -> [Build] {
        try await pool.read { db in
            var clauses: [String] = []
            var arguments: [DirectStatement.Value] = []
            if let repository = filter.repository {
                clauses.append("lower(repository) = lower(?)")
                arguments.append(.text(repository))
            }
            if let state = filter.state {
                clauses.append("state = ?")
                arguments.append(.text(state.rawValue))
            }
            if let before = filter.before {
                clauses.append("id < ?")
                arguments.append(.integer(before))
            }
            let condition = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            arguments.append(.integer(Int64(filter.limit)))
            return try DirectStatement.rows(
                db, sql: "SELECT \(Self.buildColumns) FROM build \(condition) ORDER BY id DESC LIMIT ?", arguments,
                Self.build(from:))
        }
    }

    public func newestBuildPerRef(repository: String) async throws -> [Build] {
        // The repository's lanes are a range of `lane` (`BuildLane.key`): read from its index.
        let prefix = BuildLane.key(repository: repository, ref: "")
        return try await pool.read { db in
            try DirectStatement.rows(
                db,
                sql: """
                    SELECT \(Self.buildColumns) FROM build WHERE id IN (
                        SELECT max(id) FROM build WHERE lane >= ? AND lane < ? GROUP BY lane
                    ) ORDER BY id DESC
                    """, [.text(prefix), .text(String(prefix.dropLast()) + "!")], Self.build(from:))
        }
    }

    public func delivery(id: String) async throws -> DeliveryRecord? {
        try await pool.read { db in
            try db.cachedRow(sql: "SELECT * FROM delivery WHERE id = ?", arguments: [id]).map { row in
                let stored: String = row["result"]
                guard let result = DeliveryDisposition(stored: stored) else {
                    throw StoredValueError(table: "delivery", row: id, column: "result", value: stored)
                }
                return DeliveryRecord(
                    id: row["id"], event: row["event"], repository: row["repository"],
                    receivedAt: row["received_at"], result: result, buildID: row["build_id"])
            }
        }
    }

    public func recordStepStart(buildID: Int64, attempt: Int, name: String, fence: Int64) async throws {
        try await write { db in
            try Self.checkFence(db, buildID, fence)
            try db.run(
                sql: "INSERT INTO build_step (build_id, attempt, name, state, started_at) VALUES (?, ?, ?, 'running', ?)",
                arguments: [buildID, attempt, name, Date().timeIntervalSince1970])
        }
    }

    /// In the write's transaction (the single writer's): the build is still claimed under `fence`.
    static func checkFence(_ db: Database, _ buildID: Int64, _ fence: Int64) throws {
        let current = try db.cachedInt64(sql: "SELECT fence FROM build WHERE id = ?", arguments: [buildID])
        guard current == fence else { throw StaleAttempt(buildID: buildID, fence: fence) }
    }

    public func recordStepEnd(buildID: Int64, attempt: Int, name: String, outcome: StepOutcome, fence: Int64) async throws {
        let (exitCode, detail) = outcome.recorded
        try await write { [exitCode, detail] db in
            try Self.checkFence(db, buildID, fence)
            try db.run(
                sql:
                    "UPDATE build_step SET state = ?, finished_at = ?, exit_code = ?, detail = ? WHERE build_id = ? AND attempt = ? AND name = ?",
                arguments: [outcome.state.rawValue, Date().timeIntervalSince1970, exitCode, detail, buildID, attempt, name])
        }
    }

    public func steps(buildID: Int64) async throws -> [StepRecord] {
        try await pool.read { db in
            try db.cachedRows(sql: "SELECT rowid, * FROM build_step WHERE build_id = ? ORDER BY attempt, rowid", arguments: [buildID]).map {
                row in
                let stored: String? = row["state"]
                guard let state = stored.flatMap(StepState.init(rawValue:)) else {
                    throw StoredValueError(table: "build_step", row: "\(row["rowid"] as Int64)", column: "state", value: stored)
                }
                return StepRecord(
                    buildID: row["build_id"], attempt: row["attempt"], name: row["name"], state: state,
                    startedAt: row["started_at"], finishedAt: row["finished_at"], exitCode: row["exit_code"],
                    detail: row["detail"])
            }
        }
    }

    /// The build's commit status as of now, into the outbox, in the caller's transaction.
    /// A status row that this same delivery transaction wrote for the build is rewritten
    /// instead: the poster has not seen it (it is not committed), and would only have
    /// dropped it as overtaken. A burst of pushes to one branch then leaves one row per
    /// superseded build ("superseded by #N"), not a pending row and that one.
    private static func enqueueStatus(
        _ db: Database, _ build: Build, summary: String? = nil, at time: Double,
        statuses: DeliveryTransaction? = nil
    ) throws {
        let status = CommitStatus.of(build, failureSummary: summary)
        if let row = statuses?.unsentStatusRows[build.id] {
            try DirectStatement.run(
                db, sql: "UPDATE status_outbox SET state = ?, description = ?, created_at = ?, next_attempt_at = ? WHERE id = ?",
                [.text(status.state.rawValue), .text(status.description), .real(time), .real(time), .integer(row)])
            return
        }
        try DirectStatement.run(
            db,
            sql: """
                INSERT INTO status_outbox (build_id, repository, sha, state, description, created_at, next_attempt_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            [
                .integer(build.id), .text(build.repository), .text(build.sha.hex), .text(status.state.rawValue), .text(status.description),
                .real(time), .real(time),
            ])
        statuses?.unsentStatusRows[build.id] = db.lastInsertedRowID
    }

    public func openStatuses(limit: Int) async throws -> [StatusOutboxEntry] {
        try await pool.read { db in
            try db.cachedRows(
                sql: """
                    SELECT * FROM status_outbox WHERE delivered_at IS NULL AND closed_reason IS NULL ORDER BY id LIMIT ?
                    """, arguments: [limit]
            ).map { row in
                let id: Int64 = row["id"]
                func bad(_ column: String) -> StoredValueError {
                    StoredValueError(table: "status_outbox", row: "\(id)", column: column, value: row[column] as String?)
                }
                guard let sha = (row["sha"] as String?).flatMap(CommitID.init) else { throw bad("sha") }
                guard let state = (row["state"] as String?).flatMap(StatusState.init(rawValue:)) else { throw bad("state") }
                return StatusOutboxEntry(
                    id: id, buildID: row["build_id"], repository: row["repository"], sha: sha,
                    status: CommitStatus(state: state, description: row["description"]),
                    attempts: row["attempts"], nextAttemptAt: row["next_attempt_at"])
            }
        }
    }

    public func closeStatus(id: Int64, _ outcome: StatusOutboxOutcome) async throws {
        let now = Date().timeIntervalSince1970
        try await write { db in
            switch outcome {
            case .delivered:
                try db.run(sql: "UPDATE status_outbox SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?", arguments: [now, id])
            case .retry(let at):
                try db.run(sql: "UPDATE status_outbox SET next_attempt_at = ?, attempts = attempts + 1 WHERE id = ?", arguments: [at, id])
            case .closed(let reason):
                try db.run(sql: "UPDATE status_outbox SET closed_reason = ? WHERE id = ?", arguments: [reason, id])
            }
        }
    }

    public func closeStatuses(ids: [Int64], reason: String) async throws {
        guard !ids.isEmpty else { return }
        try await write { db in
            for id in ids { try db.run(sql: "UPDATE status_outbox SET closed_reason = ? WHERE id = ?", arguments: [reason, id]) }
        }
    }

    public func pruneStatuses(doneBefore time: Double) async throws -> Int {
        try await write { db in
            try db.run(
                sql: "DELETE FROM status_outbox WHERE created_at < ? AND (delivered_at IS NOT NULL OR closed_reason IS NOT NULL)",
                arguments: [time])
            return db.changesCount
        }
    }

    public func recordImage(buildID: Int64, _ image: ImageProvenance, fence: Int64) async throws {
        let tags = String(decoding: try JSONEncoder().encode(image.tags), as: UTF8.self)
        try await write { db in
            try Self.checkFence(db, buildID, fence)
            try db.run(
                sql: "UPDATE build SET image_name = ?, image_tags = ?, image_digest = ?, image_uploaded_bytes = ? WHERE id = ?",
                arguments: [image.name, tags, image.digest, image.uploadedBytes, buildID])
        }
    }

    public func recordModel(buildID: Int64, _ model: ModelProvenance, fence: Int64) async throws {
        try await write { db in
            try Self.checkFence(db, buildID, fence)
            try db.run(
                sql: "UPDATE build SET model_source = ?, model_version = ?, model_sha256 = ? WHERE id = ?",
                arguments: [model.source, model.version, model.sha256, buildID])
        }
    }

    public func recordProvenance(buildID: Int64, envelope: String, fence: Int64) async throws {
        try await write { db in
            try Self.checkFence(db, buildID, fence)
            try db.run(sql: "UPDATE build SET provenance = ? WHERE id = ?", arguments: [envelope, buildID])
        }
    }

    public func provenance(buildID: Int64) async throws -> String? {
        try await pool.read { db in try String.fetchOne(db, sql: "SELECT provenance FROM build WHERE id = ?", arguments: [buildID]) }
    }

    public func countByState() async throws -> [BuildState: Int] {
        try await pool.read { db in
            var counts: [BuildState: Int] = [:]
            for row in try db.cachedRows(sql: "SELECT state, COUNT(*) AS n FROM build GROUP BY state") {
                let stored: String? = row["state"]
                guard let state = stored.flatMap(BuildState.init(rawValue:)) else {
                    let id = try db.cachedInt64(sql: "SELECT MIN(id) FROM build WHERE state IS ?", arguments: [stored])
                    throw StoredValueError(table: "build", row: id.map(String.init) ?? "?", column: "state", value: stored)
                }
                counts[state] = row["n"]
            }
            return counts
        }
    }

    public func ping() async throws {
        if let problem = database.writeProblem { throw StoreError.notWritable(problem) }
        try await write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO readiness (id, checked_at) VALUES (1, ?)", arguments: [Date().timeIntervalSince1970])
        }
    }

    public var writeProblem: String? { database.writeProblem }

    /// Every write goes through here, so a failing disk is noticed (`StorageWatch`).
    func write<T: Sendable>(_ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await storage.watching { try await database.writeToCompletion(updates) }
    }

    static func fetchBuild(_ db: Database, _ id: Int64) throws -> Build? {
        try DirectStatement.rows(db, sql: "SELECT \(buildColumns) FROM build WHERE id = ?", [.integer(id)], build(from:)).first
    }

    /// The columns `build(from:)` reads (`StoredBuild`).
    static var buildColumns: String { StoredBuild.columns }

    static func build(from row: DirectStatement.Columns) throws -> Build {
        try StoredBuild.build(from: row)
    }
}

/// Statements prepared once per connection (GRDB's statement cache): the hot paths
/// (deliveries, transitions) skip compiling SQL and GRDB's per-compile bookkeeping.
extension Database {
    func run(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }

    func cachedRow(sql: String, arguments: StatementArguments = StatementArguments()) throws -> Row? {
        try Row.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }

    func cachedRows(sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Row] {
        try Row.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }

    func cachedInt64(sql: String, arguments: StatementArguments = StatementArguments()) throws -> Int64? {
        try Int64.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }
}
