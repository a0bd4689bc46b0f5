import Foundation
import Logging
import PostgresNIO
import SlipwayCore
import SlipwayStore
import Synchronization

/// Group commit for deliveries on PostgreSQL: the deliveries that arrive while a group's
/// transaction runs wait for it, then go into the next transaction together, and a caller
/// is answered once the transaction holding its delivery has committed (PostgreSQL's
/// commit waits for its WAL flush). One group at a time per replica.
///
/// Why: a storm of pushes to one branch queues every build in one lane, and a lane's
/// builds are written under its advisory lock, held to the commit. One transaction per
/// delivery wrote the whole cluster's deliveries one after another, each paying its own
/// round trips, commit and flush (bench/ingest-replicas: 78 deliveries/s). A group takes
/// each lane's lock once and writes with a fixed number of statements, whatever its size
/// (`PostgresBuildStore.writeDeliveryGroup`): the lanes locked, then the deliveries that
/// came meanwhile on those lanes join the group (while the lock goes round the replicas,
/// their groups grow instead of each waiting for it again), the build ids reserved, the
/// deliveries inserted, the queued builds read, then the builds, the superseded ones and
/// the outbox rows in one statement over the whole group (`jsonb_to_recordset`).
///
/// A group whose transaction fails for a reason of its own (not an unreachable database)
/// is written again one delivery per transaction (`PostgresBuildStore.recordDeliveryAlone`),
/// so only the delivery at fault gets the error. A caller's cancellation does not reach
/// the write: its delivery is committed and answered like the others.
final class PostgresDeliveryGroups: Sendable {
    struct Waiting {
        let entry: DeliveryGroupPlan.Entry
        let arrived: ContinuousClock.Instant
        let reply: @Sendable (Result<DeliveryOutcome, any Error>) -> Void
    }

    private struct State {
        var waiting: [Waiting] = []
        var writing = false
    }

    private let state = Mutex(State())
    /// The most deliveries in one transaction.
    static let maxGroup = 256

    /// Deliveries waiting for the next group.
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Stores `entry` with the next group `writer` writes; returns once that group has
    /// committed. (The writer is passed, not kept: the store keeps this.)
    func submit(_ entry: DeliveryGroupPlan.Entry, to writer: some DeliveryGroupWriter) async throws -> DeliveryOutcome {
        try await withCheckedThrowingContinuation { reply in submit(entry, to: writer) { reply.resume(with: $0) } }
    }

    /// The same for a caller that must not wait (a connection's event loop): `reply` is
    /// called once, on the writer's thread, when the group has committed or failed.
    func submit(
        _ entry: DeliveryGroupPlan.Entry, to writer: some DeliveryGroupWriter,
        reply: @escaping @Sendable (Result<DeliveryOutcome, any Error>) -> Void
    ) {
        let start = state.withLock { state in
            state.waiting.append(Waiting(entry: entry, arrived: .now, reply: reply))
            guard !state.writing else { return false }
            state.writing = true
            return true
        }
        // Not the caller's task: its cancellation must not reach a group's write.
        if start { Task(executorPreference: PostgresDatabase.executor) { await self.writeWhileWaiting(writer) } }
    }

    /// Writes groups until none waits.
    private func writeWhileWaiting(_ writer: some DeliveryGroupWriter) async {
        while true {
            let group: [Waiting] = state.withLock { state in
                let group = Array(state.waiting.prefix(Self.maxGroup))
                state.waiting.removeFirst(group.count)
                if group.isEmpty { state.writing = false }
                return group
            }
            guard !group.isEmpty else { return }
            await writeGroup(group, writer)
        }
    }

    private func writeGroup(_ first: [Waiting], _ writer: some DeliveryGroupWriter) async {
        let started = ContinuousClock.now
        let joined = Mutex<[Waiting]>([])
        var group = first
        do {
            let outcomes = try await writer.writeDeliveryGroup(first.map(\.entry)) { lanes in
                let late = self.takeWaiting(onlyIn: lanes, upTo: Self.maxGroup - first.count)
                joined.withLock { $0 = late }
                return late.map(\.entry)
            }
            group += joined.withLock { $0 }
            record(group, started: started)
            for (waiting, outcome) in zip(group, outcomes) { waiting.reply(.success(outcome)) }
        } catch {
            group += joined.withLock { $0 }
            record(group, started: started)
            if group.count == 1 || PostgresProblem.unreachable(error) != nil {
                for waiting in group { waiting.reply(.failure(error)) }
                return
            }
            for waiting in group {
                do {
                    waiting.reply(.success(try await writer.recordDeliveryAlone(waiting.entry)))
                } catch {
                    waiting.reply(.failure(error))
                }
            }
        }
    }

    /// The deliveries that came while a group waited for its lanes' locks and need no
    /// other lane: they join it (a storm on one branch then grows its groups while the
    /// lane's lock goes round the replicas, instead of waiting for it once more each).
    private func takeWaiting(onlyIn lanes: Set<String>, upTo limit: Int) -> [Waiting] {
        state.withLock { state in
            var taken: [Waiting] = []
            var left: [Waiting] = []
            for waiting in state.waiting {
                if taken.count < limit && (waiting.entry.request.map { lanes.contains($0.lane) } ?? true) {
                    taken.append(waiting)
                } else {
                    left.append(waiting)
                }
            }
            state.waiting = left
            return taken
        }
    }

    private func record(_ group: [Waiting], started: ContinuousClock.Instant) {
        StoreMetrics.groupSize.record(group.count)
        // A delivery that joined the group under its lanes' locks came after it started:
        // it waited for no group.
        for waiting in group { StoreMetrics.groupWait.recordNanoseconds(max(.zero, started - waiting.arrived).nanoseconds) }
        StoreMetrics.groupWrite.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
    }
}

/// Writes the groups of `PostgresDeliveryGroups`: the store.
protocol DeliveryGroupWriter: AnyObject, Sendable {
    /// One group in one transaction: an outcome per entry, in order, the entries `joining`
    /// returned last. `joining` is called once the group holds its lanes' locks, with
    /// those lanes: the deliveries it returns join the group.
    func writeDeliveryGroup(
        _ entries: [DeliveryGroupPlan.Entry], joining: @escaping @Sendable (Set<String>) -> [DeliveryGroupPlan.Entry]
    ) async throws -> [DeliveryOutcome]
    /// One delivery in its own transaction.
    func recordDeliveryAlone(_ entry: DeliveryGroupPlan.Entry) async throws -> DeliveryOutcome
}

// MARK: - The group's transaction

extension PostgresBuildStore: DeliveryGroupWriter {
    /// One group of deliveries in one transaction (see `PostgresDeliveryGroups`).
    ///
    /// Locks are taken in one order by every writer, so that two replicas' groups cannot
    /// wait for each other: first the lanes' advisory locks, by key; then the delivery
    /// rows, by id (a redelivery that reached two replicas at once is inserted by one; the
    /// other's insert waits for that commit, then skips it as a duplicate).
    func writeDeliveryGroup(
        _ first: [DeliveryGroupPlan.Entry], joining: @escaping @Sendable (Set<String>) -> [DeliveryGroupPlan.Entry]
    ) async throws -> [DeliveryOutcome] {
        let outcomes = try await transaction { [logger] connection in
            let lanes = Set(first.compactMap { $0.request?.lane })
            try await Self.lockLanes(lanes, connection, logger: logger)
            let (entries, caughtUp) = try await Self.takingOutReconciledPushes(first + joining(lanes), connection, logger: logger)
            let reserved = try await Self.reserveBuildIDs(entries.count(where: { $0.request != nil }), connection, logger: logger)
            let inserted = try await Self.insertDeliveries(entries, buildIDs: reserved, connection, logger: logger)
            let others = Set(entries.map(\.delivery.id)).subtracting(inserted)
            let existing = try await Self.existingBuildIDs(of: Array(others), connection, logger: logger)
            let supersedingLanes = Set(
                entries.compactMap { entry in
                    entry.request.flatMap { request in
                        inserted.contains(entry.delivery.id) && QueuePolicy.maySupersede(request, enabled: entry.supersedeOlder)
                            ? request.lane : nil
                    }
                })
            var queuedByLane: [String: [Build]] = [:]
            if !supersedingLanes.isEmpty {
                let queued = try await Self.builds(
                    connection, where: "lane = ANY($1) AND state = 'queued'", [Array(supersedingLanes)], logger: logger)
                for build in queued { queuedByLane[build.lane, default: []].append(build) }
            }
            let plan = try DeliveryGroupPlan(
                entries: entries, inserted: inserted, existingBuildIDs: existing, reservedIDs: reserved, queuedByLane: queuedByLane)
            try await Self.write(plan, connection, logger: logger)
            return zip(plan.outcomes, entries).map { outcome, entry in
                guard case .stored(nil, _) = outcome, let buildID = caughtUp[entry.delivery.id] else { return outcome }
                return .builtByReconcile(buildID: buildID)
            }
        }
        if outcomes.contains(where: { if case .stored(_?, _) = $0 { true } else { false } }) { outboxWritten.signal() }
        return outcomes
    }

    /// The entries with each push whose head `reconcile` built already turned into a
    /// delivery of no build that names that build; and those builds, by delivery id.
    /// Read under the lanes' locks, which `reconcileHead` takes too.
    private static func takingOutReconciledPushes(
        _ entries: [DeliveryGroupPlan.Entry], _ connection: PostgresConnection, logger: Logger
    ) async throws -> ([DeliveryGroupPlan.Entry], [String: Int64]) {
        let pushes = entries.compactMap { $0.request?.trigger == .push ? $0.request : nil }
        guard !pushes.isEmpty else { return (entries, [:]) }
        let rows = try await connection.query(
            """
            SELECT lane, sha, max(id) FROM build WHERE trigger = 'reconcile'
            AND (lane, sha) IN (SELECT * FROM unnest(\(pushes.map(\.lane))::text[], \(pushes.map(\.sha.hex))::text[]))
            GROUP BY lane, sha
            """, logger: logger)
        var reconciled: [String: Int64] = [:]
        for try await (lane, sha, id) in rows.decode((String, String, Int64).self) { reconciled[lane + " " + sha] = id }
        guard !reconciled.isEmpty else { return (entries, [:]) }
        var caughtUp: [String: Int64] = [:]
        let changed = entries.map { entry -> DeliveryGroupPlan.Entry in
            guard let request = entry.request, request.trigger == .push,
                let buildID = reconciled[request.lane + " " + request.sha.hex]
            else { return entry }
            var delivery = entry.delivery
            delivery.result = .ignored(reason: DeliveryOutcome.builtByReconcileReason(buildID))
            delivery.buildID = buildID
            caughtUp[delivery.id] = buildID
            return DeliveryGroupPlan.Entry(delivery: delivery, request: nil, supersedeOlder: entry.supersedeOlder)
        }
        return (changed, caughtUp)
    }

    /// Takes the lanes' advisory locks, in the order of their keys (two lanes sharing a key
    /// take it twice: the transaction then holds it twice).
    private static func lockLanes(_ lanes: Set<String>, _ connection: PostgresConnection, logger: Logger) async throws {
        guard !lanes.isEmpty else { return }
        _ = try await connection.query(
            """
            SELECT pg_advisory_xact_lock(key) FROM (SELECT hashtextextended(lane, \(laneLockSeed)) AS key
            FROM unnest(\(Array(lanes))::text[]) AS lane ORDER BY key) AS keys
            """, logger: logger)
    }

    /// `count` new build ids, ascending, reserved under the lanes' locks: a lane's builds
    /// are numbered in the order their transactions got its lock (push order).
    private static func reserveBuildIDs(_ count: Int, _ connection: PostgresConnection, logger: Logger) async throws -> [Int64] {
        guard count > 0 else { return [] }
        let rows = try await connection.query(
            "SELECT nextval(pg_get_serial_sequence('build', 'id')) FROM generate_series(1, \(count))", logger: logger)
        var ids: [Int64] = []
        for try await id in rows.decode(Int64.self) { ids.append(id) }
        guard ids.count == count else { throw PostgresProblem.noRowReturned("build id reservation") }
        return ids.sorted()
    }

    /// Inserts the deliveries not stored yet, each naming the build reserved for it; returns
    /// the ids it inserted. The reserved ids go to the entries with a request, in order
    /// (those whose delivery turns out stored already leave theirs unused).
    private static func insertDeliveries(
        _ entries: [DeliveryGroupPlan.Entry], buildIDs: [Int64], _ connection: PostgresConnection, logger: Logger
    ) async throws -> Set<String> {
        struct Row: Encodable {
            let id: String
            let event: String
            let repository: String?
            let received_at: Double
            let result: String
            let build_id: Int64?
            let skipped_lane: String?
            let skipped_sha: String?
        }
        var nextID = buildIDs.makeIterator()
        var seen = Set<String>()
        var rows: [Row] = []
        for entry in entries {
            let delivery = entry.delivery
            // A push `reconcile` built already names that build (`takingOutReconciledPushes`).
            let buildID = entry.request == nil ? delivery.buildID : nextID.next()
            // A delivery twice in one group: the first is stored, the later one is its duplicate.
            guard seen.insert(delivery.id).inserted else { continue }
            rows.append(
                Row(
                    id: delivery.id, event: delivery.event, repository: delivery.repository, received_at: delivery.receivedAt,
                    result: delivery.result.description, build_id: buildID, skipped_lane: delivery.skippedHead?.lane,
                    skipped_sha: delivery.skippedHead?.sha.hex))
        }
        let payload = try json(rows)
        let inserted = try await connection.query(
            """
            INSERT INTO delivery (id, event, repository, received_at, result, build_id, skipped_lane, skipped_sha)
            SELECT id, event, repository, received_at, result, build_id, skipped_lane, skipped_sha
            FROM jsonb_to_recordset(\(payload)::jsonb) AS t(id text, event text, repository text, received_at float8, result text,
            build_id int8, skipped_lane text, skipped_sha text) ORDER BY id
            ON CONFLICT (id) DO NOTHING RETURNING id
            """, logger: logger)
        var ids = Set<String>()
        for try await id in inserted.decode(String.self) { ids.insert(id) }
        return ids
    }

    private static func existingBuildIDs(of deliveries: [String], _ connection: PostgresConnection, logger: Logger) async throws
        -> [String: Int64]
    {
        guard !deliveries.isEmpty else { return [:] }
        let rows = try await connection.query(
            "SELECT id, build_id FROM delivery WHERE id = ANY(\(deliveries)) AND build_id IS NOT NULL", logger: logger)
        var found: [String: Int64] = [:]
        for try await (id, buildID) in rows.decode((String, Int64).self) { found[id] = buildID }
        return found
    }

    /// The plan's rows in one statement: the new builds, the superseded ones, the outbox
    /// rows in order. (The outbox's rows name builds inserted by the same statement: its
    /// foreign key is checked at the statement's end.)
    private static func write(_ plan: DeliveryGroupPlan, _ connection: PostgresConnection, logger: Logger) async throws {
        // Every new or superseded build has a status row: nothing else to write without one.
        guard !plan.statuses.isEmpty else { return }
        struct NewBuild: Encodable {
            let id: Int64
            let repository, ref, lane, sha: String
            let clone_url: String?
            let trigger: String
            let delivery_id: String?
            let state: String
            let reason: String?
            let created_at: Double
            let finished_at: Double?
        }
        struct Superseded: Encodable {
            let id: Int64
            let state: String
            let reason: String?
            let finished_at: Double?
        }
        struct Status: Encodable {
            let n: Int
            let build_id: Int64
            let repository, sha, state, description: String
            let created_at: Double
        }
        let newBuilds = try json(
            plan.newBuilds.map {
                NewBuild(
                    id: $0.id, repository: $0.repository, ref: $0.ref, lane: $0.lane, sha: $0.sha.hex, clone_url: $0.cloneURL,
                    trigger: $0.trigger.rawValue, delivery_id: $0.deliveryID, state: $0.state.rawValue, reason: $0.reason,
                    created_at: $0.createdAt, finished_at: $0.finishedAt)
            })
        let superseded = try json(
            plan.supersededBuilds.map { Superseded(id: $0.id, state: $0.state.rawValue, reason: $0.reason, finished_at: $0.finishedAt) })
        let statuses = try json(
            plan.statuses.enumerated().map { n, row in
                Status(
                    n: n, build_id: row.build.id, repository: row.build.repository, sha: row.build.sha.hex,
                    state: row.status.state.rawValue, description: row.status.description,
                    created_at: row.build.finishedAt ?? row.build.createdAt)
            })
        // Superseded builds were queued until now (read and locked by this transaction):
        // no lease to give up. `id = ANY`: by the primary key (joined to the JSON alone,
        // the planner expects 100 rows there and reads the whole table). The outbox rows
        // go in the plan's order, so its ids (its delivery order) follow it.
        _ = try await connection.query(
            """
            WITH new_builds AS (
                INSERT INTO build (id, repository, ref, lane, sha, clone_url, trigger, delivery_id, state, reason, created_at,
                finished_at, attempts) OVERRIDING SYSTEM VALUE
                SELECT id, repository, ref, lane, sha, clone_url, trigger, delivery_id, state, reason, created_at, finished_at, 0
                FROM jsonb_to_recordset(\(newBuilds)::jsonb) AS t(id int8, repository text, ref text, lane text, sha text,
                clone_url text, trigger text, delivery_id text, state text, reason text, created_at float8, finished_at float8)
                ORDER BY id
            ), superseded AS (
                UPDATE build SET state = t.state, reason = t.reason, finished_at = t.finished_at
                FROM jsonb_to_recordset(\(superseded)::jsonb) AS t(id int8, state text, reason text, finished_at float8)
                WHERE build.id = t.id AND build.id = ANY(\(plan.supersededBuilds.map(\.id)))
            )
            INSERT INTO status_outbox (build_id, repository, sha, state, description, created_at, next_attempt_at)
            SELECT build_id, repository, sha, state, description, created_at, created_at
            FROM jsonb_to_recordset(\(statuses)::jsonb)
            AS t(n int4, build_id int8, repository text, sha text, state text, description text, created_at float8) ORDER BY n
            """, logger: logger)
    }

    private static func json(_ rows: some Encodable) throws -> String {
        String(decoding: try JSONEncoder().encode(rows), as: UTF8.self)
    }
}
