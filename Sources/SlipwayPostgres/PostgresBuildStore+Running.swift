import Foundation
import Logging
import PostgresNIO
import SlipwayCore
import SlipwayStore

// MARK: - Claims and leases

extension PostgresBuildStore: BuildLeaseStore {
    /// Claims up to `freeWorkers` builds for this replica: the oldest queued build of each
    /// lane that runs nothing anywhere in the cluster (`QueuePolicy`). Each claim is made
    /// under its lane's advisory lock, taken without waiting (`pg_try_advisory_xact_lock`):
    /// the rule to keep is about a lane ("one build running, in push order"), and a lane
    /// that runs nothing has no row to lock; a lane another replica is claiming or queueing
    /// into right now is left to it. Under the lock the lane is read again, so a claim is
    /// only made of the lane's oldest queued build while none of its builds runs.
    ///
    /// A claim gives the build a lease (`lease` from now, on the database's clock) and
    /// names this replica as its owner; its fence grows (`Build.applying`).
    public func claimRunnable(freeWorkers: Int, heldLanes: Set<String>) async throws -> [Build] {
        guard freeWorkers > 0 else { return [] }
        let claimed = try await transaction { [self] connection in
            let queued = try await connection.query(
                "SELECT min(id), lane FROM build WHERE state = 'queued' GROUP BY lane ORDER BY min(id)", logger: logger)
            var candidates: [QueuePolicy.Candidate] = []
            for try await (id, lane) in queued.decode((Int64, String).self) { candidates.append(.init(id: id, lane: lane)) }
            guard !candidates.isEmpty else { return [Build]() }
            var running = heldLanes
            for try await lane in try await connection.query("SELECT DISTINCT lane FROM build WHERE state = 'running'", logger: logger)
                .decode(String.self)
            {
                running.insert(lane)
            }
            let now = Date().timeIntervalSince1970
            var claimed: [Build] = []
            for id in QueuePolicy.runnable(queued: candidates, runningLanes: running, freeWorkers: freeWorkers) {
                guard let lane = candidates.first(where: { $0.id == id })?.lane else { continue }
                guard try await Self.lockLane(lane, waiting: false, connection, logger: logger) else { continue }
                let head = try await Self.builds(
                    connection, where: "lane = $1 AND state IN ('queued', 'running')", [lane], limit: 1, logger: logger)
                guard let build = head.first, build.id == id, build.state == .queued else { continue }
                let started = try await Self.applyTransition(connection, build, .start, reason: nil, at: now, logger: logger)
                _ = try await connection.query(
                    """
                    UPDATE build SET lease_owner = \(replica), lease_expires_at = clock_timestamp() + make_interval(secs => \(leaseSeconds))
                    WHERE id = \(build.id)
                    """, logger: logger)
                claimed.append(started)
            }
            return claimed
        }
        if !claimed.isEmpty { outboxWritten.signal() }
        return claimed
    }

    /// The build's row is locked (`FOR UPDATE`) before its fence is compared, so no claim
    /// can come between the check and the write.
    @discardableResult
    public func transition(_ id: Int64, _ event: BuildEvent, reason: String?, statusSummary: String?, fence: Int64?) async throws
        -> Build?
    {
        let now = Date().timeIntervalSince1970
        let build = try await transaction { [logger] connection -> Build? in
            guard let current = try await Self.builds(connection, where: "id = $1", [id], logger: logger).first else { return nil }
            if let fence, current.fence != fence { throw StaleAttempt(buildID: id, fence: fence) }
            return try await Self.applyTransition(
                connection, current, event, reason: reason, statusSummary: statusSummary, at: now, logger: logger)
        }
        if build != nil { outboxWritten.signal() }
        return build
    }

    /// Builds whose lease has run out (their replica died, was paused or cut off): back to
    /// `queued` once, then `error` (`QueuePolicy.maxAttempts`, cluster-wide), their running
    /// steps closed as interrupted. Every replica calls this at start-up and then
    /// periodically; a build is taken over by one of them (its row is locked, and the
    /// others skip it).
    public func recoverInterrupted() async throws -> [Build] {
        defer { outboxWritten.signal() }
        let now = Date().timeIntervalSince1970
        return try await transaction(control: true) { [logger] connection in
            let expired = try await Self.builds(
                connection, where: "state = 'running' AND lease_expires_at < clock_timestamp()", [], skipLocked: true, logger: logger)
            var recovered: [Build] = []
            for build in expired {
                let left = build.attempts < QueuePolicy.maxAttempts
                let reason =
                    left
                    ? "re-queued after the replica running it stopped during the build"
                    : "the replica running it stopped during this build \(build.attempts) times; not retried again"
                recovered.append(
                    try await Self.applyTransition(
                        connection, build, .crashRecovered(attemptsLeft: left), reason: reason, at: now, logger: logger)
                )
                _ = try await connection.query(
                    """
                    UPDATE build_step SET state = 'error', finished_at = \(now), detail = 'interrupted: the replica running it stopped'
                    WHERE build_id = \(build.id) AND state = 'running'
                    """, logger: logger)
            }
            return recovered
        }
    }

    /// Extends the leases of the builds this replica runs, and of its deployments; returns
    /// the ids of the builds it holds no more (taken over after its lease ran out), whose
    /// processes must stop.
    public func renewLeases(of running: Set<Int64>) async throws -> [Int64: BuildState] {
        let ids = Array(running)
        let lost = try await transaction(control: true) { [self] connection -> [Int64: BuildState] in
            _ = try await connection.query(
                """
                UPDATE deployment SET lease_expires_at = clock_timestamp() + make_interval(secs => \(leaseSeconds))
                WHERE lease_owner = \(replica) AND state IN ('queued', 'running')
                """, logger: logger)
            guard !ids.isEmpty else { return [:] }
            let rows = try await connection.query(
                """
                UPDATE build SET lease_expires_at = clock_timestamp() + make_interval(secs => \(leaseSeconds))
                WHERE id = ANY(\(ids)) AND state = 'running' AND lease_owner = \(replica) RETURNING id
                """, logger: logger)
            var renewed = Set<Int64>()
            for try await id in rows.decode(Int64.self) { renewed.insert(id) }
            let gone = Array(running.subtracting(renewed))
            guard !gone.isEmpty else { return [:] }
            var states: [Int64: BuildState] = [:]
            for try await (id, state) in try await connection.query(
                "SELECT id, state FROM build WHERE id = ANY(\(gone))", logger: logger
            ).decode((Int64, String).self) {
                states[id] = BuildState(rawValue: state) ?? .error
            }
            return states
        }
        return lost
    }
}

// MARK: - What a running build records

extension PostgresBuildStore: BuildRecordStore {
    public func recordStepStart(buildID: Int64, attempt: Int, name: String, fence: Int64) async throws {
        let now = Date().timeIntervalSince1970
        try await fencedWrite(buildID, fence) { [logger] connection in
            try await connection.query(
                """
                INSERT INTO build_step (build_id, attempt, name, state, started_at)
                SELECT \(buildID), \(attempt), \(name), 'running', \(now) FROM build WHERE id = \(buildID) AND fence = \(fence)
                RETURNING build_id
                """, logger: logger)
        }
    }

    public func recordStepEnd(buildID: Int64, attempt: Int, name: String, outcome: StepOutcome, fence: Int64) async throws {
        let (exitCode, detail) = outcome.recorded
        let now = Date().timeIntervalSince1970
        try await fencedWrite(buildID, fence, missingRowIsFine: true) { [logger, exitCode, detail] connection in
            try await connection.query(
                """
                UPDATE build_step SET state = \(outcome.state.rawValue), finished_at = \(now), exit_code = \(exitCode), detail = \(detail)
                WHERE build_id = \(buildID) AND attempt = \(attempt) AND name = \(name)
                AND EXISTS (SELECT 1 FROM build WHERE id = \(buildID) AND fence = \(fence))
                RETURNING build_id
                """, logger: logger)
        }
    }

    public func recordImage(buildID: Int64, _ image: ImageProvenance, fence: Int64) async throws {
        let tags = String(decoding: try JSONEncoder().encode(image.tags), as: UTF8.self)
        try await fencedWrite(buildID, fence) { [logger] connection in
            try await connection.query(
                """
                UPDATE build SET image_name = \(image.name), image_tags = \(tags), image_digest = \(image.digest),
                image_uploaded_bytes = \(image.uploadedBytes) WHERE id = \(buildID) AND fence = \(fence) RETURNING id
                """, logger: logger)
        }
    }

    public func recordModel(buildID: Int64, _ model: ModelProvenance, fence: Int64) async throws {
        try await fencedWrite(buildID, fence) { [logger] connection in
            try await connection.query(
                """
                UPDATE build SET model_source = \(model.source), model_version = \(model.version), model_sha256 = \(model.sha256)
                WHERE id = \(buildID) AND fence = \(fence) RETURNING id
                """, logger: logger)
        }
    }

    public func recordProvenance(buildID: Int64, envelope: String, fence: Int64) async throws {
        try await fencedWrite(buildID, fence) { [logger] connection in
            try await connection.query(
                "UPDATE build SET provenance = \(envelope) WHERE id = \(buildID) AND fence = \(fence) RETURNING id", logger: logger)
        }
    }

    /// A write whose statement itself names the fence (so no claim can come between a
    /// check and the write) and returns the rows it wrote. None written: `StaleAttempt`
    /// when the build's fence has moved on; else, with `missingRowIsFine`, nothing to do.
    private func fencedWrite(
        _ buildID: Int64, _ fence: Int64, missingRowIsFine: Bool = false,
        _ statement: @escaping @Sendable (PostgresConnection) async throws -> PostgresRowSequence
    ) async throws {
        try await transaction { [logger] connection in
            guard try await statement(connection).collect().isEmpty else { return }
            var current: Int64?
            for try await value in try await connection.query("SELECT fence FROM build WHERE id = \(buildID)", logger: logger)
                .decode(Int64.self)
            {
                current = value
            }
            if current != fence { throw StaleAttempt(buildID: buildID, fence: fence) }
            guard missingRowIsFine else { throw PostgresProblem.noRowReturned("build #\(buildID)") }
        }
    }
}

// MARK: - The status outbox

extension PostgresBuildStore: StatusOutboxStore {
    public func openStatuses(limit: Int) async throws -> [StatusOutboxEntry] {
        try await database.client.withConnection { [logger] connection in
            let rows = try await connection.query(
                """
                SELECT id, build_id, repository, sha, state, description, attempts, next_attempt_at FROM status_outbox
                WHERE delivered_at IS NULL AND closed_reason IS NULL ORDER BY id LIMIT \(limit)
                """, logger: logger)
            var entries: [StatusOutboxEntry] = []
            for try await (id, buildID, repository, sha, state, description, attempts, next) in rows.decode(
                (Int64, Int64, String, String, String, String, Int, Double).self)
            {
                guard let commit = CommitID(sha) else {
                    throw StoredValueError(table: "status_outbox", row: "\(id)", column: "sha", value: sha)
                }
                guard let status = StatusState(rawValue: state) else {
                    throw StoredValueError(table: "status_outbox", row: "\(id)", column: "state", value: state)
                }
                entries.append(
                    StatusOutboxEntry(
                        id: id, buildID: buildID, repository: repository, sha: commit,
                        status: CommitStatus(state: status, description: description), attempts: attempts, nextAttemptAt: next))
            }
            return entries
        }
    }

    public func closeStatus(id: Int64, _ outcome: StatusOutboxOutcome) async throws {
        let now = Date().timeIntervalSince1970
        try await transaction { [logger] connection in
            switch outcome {
            case .delivered:
                _ = try await connection.query(
                    "UPDATE status_outbox SET delivered_at = \(now), attempts = attempts + 1 WHERE id = \(id)", logger: logger)
            case .retry(let at):
                _ = try await connection.query(
                    "UPDATE status_outbox SET next_attempt_at = \(at), attempts = attempts + 1 WHERE id = \(id)", logger: logger)
            case .closed(let reason):
                _ = try await connection.query("UPDATE status_outbox SET closed_reason = \(reason) WHERE id = \(id)", logger: logger)
            }
        }
    }

    public func closeStatuses(ids: [Int64], reason: String) async throws {
        guard !ids.isEmpty else { return }
        try await transaction { [logger] connection in
            _ = try await connection.query("UPDATE status_outbox SET closed_reason = \(reason) WHERE id = ANY(\(ids))", logger: logger)
        }
    }

    public func pruneStatuses(doneBefore time: Double) async throws -> Int {
        try await transaction { [logger] connection in
            let rows = try await connection.query(
                """
                DELETE FROM status_outbox WHERE created_at < \(time) AND (delivered_at IS NOT NULL OR closed_reason IS NOT NULL) RETURNING id
                """, logger: logger)
            return try await rows.collect().count
        }
    }
}
extension PostgresBuildStore: BuildLeaseRenewal {}
