import Foundation
import GRDB
import SlipwayCore

extension SQLiteBuildStore: DeploymentStore {
    public func createDeployment(of build: Build, image: String, trigger: DeploymentTrigger, requestedBy: String) async throws
        -> DeploymentCreation
    {
        try await write { db in
            if let active = try Row.fetchOne(
                db, sql: "SELECT * FROM deployment WHERE repository = ? AND state IN ('queued', 'running') ORDER BY id LIMIT 1",
                arguments: [build.repository])
            {
                return .busy(Self.deployment(from: active))
            }
            try db.execute(
                sql: """
                    INSERT INTO deployment (repository, build_id, image, model_version, trigger, requested_by, state, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)
                    """,
                arguments: [
                    build.repository, build.id, image, build.model?.version, trigger.rawValue, requestedBy, Date().timeIntervalSince1970,
                ])
            let row = try Row.fetchOne(db, sql: "SELECT * FROM deployment WHERE id = ?", arguments: [db.lastInsertedRowID])!
            return .created(Self.deployment(from: row))
        }
    }

    public func deployment(id: Int64) async throws -> Deployment? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM deployment WHERE id = ?", arguments: [id]).map(Self.deployment(from:))
        }
    }

    public func deployments(repository: String?, limit: Int) async throws -> [Deployment] {
        try await pool.read { db in
            let rows =
                if let repository {
                    try Row.fetchAll(
                        db, sql: "SELECT * FROM deployment WHERE repository = ? ORDER BY id DESC LIMIT ?", arguments: [repository, limit])
                } else {
                    try Row.fetchAll(db, sql: "SELECT * FROM deployment ORDER BY id DESC LIMIT ?", arguments: [limit])
                }
            return rows.map(Self.deployment(from:))
        }
    }

    public func startDeployment(id: Int64) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE deployment SET state = 'running', started_at = ? WHERE id = ? AND state = 'queued'",
                arguments: [Date().timeIntervalSince1970, id])
        }
    }

    public func finishDeployment(id: Int64, state: DeploymentState, reason: String?) async throws {
        precondition(state.isTerminal, "a deployment finishes in a terminal state")
        try await write { db in
            try db.execute(
                sql: "UPDATE deployment SET state = ?, reason = ?, finished_at = ? WHERE id = ? AND state IN ('queued', 'running')",
                arguments: [state.rawValue, reason, Date().timeIntervalSince1970, id])
        }
    }

    public func newestDeployableBuild(repository: String) async throws -> Build? {
        try await pool.read { db in
            try DirectStatement.rows(
                db,
                sql: """
                    SELECT \(SQLiteBuildStore.buildColumns) FROM build WHERE repository = ? AND state = 'success' AND image_digest IS NOT NULL ORDER BY id DESC LIMIT 1
                    """, [.text(repository)], Self.build(from:)
            ).first
        }
    }

    public func build(repository: String, imageDigest: String) async throws -> Build? {
        try await pool.read { db in
            try DirectStatement.rows(
                db,
                sql: """
                    SELECT \(SQLiteBuildStore.buildColumns) FROM build WHERE repository = ? AND image_digest = ? ORDER BY id DESC LIMIT 1
                    """, [.text(repository), .text(imageDigest)], Self.build(from:)
            ).first
        }
    }

    public func recoverInterruptedDeployments() async throws -> [Deployment] {
        try await write { db in
            // As they ended (RETURNING gives the rows after the update, in no set order).
            try Row.fetchAll(
                db,
                sql: """
                    UPDATE deployment SET state = 'error', reason = 'interrupted: the daemon stopped during the deployment', finished_at = ?
                    WHERE state IN ('queued', 'running') RETURNING *
                    """, arguments: [Date().timeIntervalSince1970]
            ).map(Self.deployment(from:)).sorted { $0.id < $1.id }
        }
    }

    public func scheduleCheckedUntil(repository: String) async throws -> Double? {
        try await pool.read { db in
            try Double.fetchOne(db, sql: "SELECT checked_until FROM deploy_schedule WHERE repository = ?", arguments: [repository])
        }
    }

    public func setScheduleCheckedUntil(repository: String, _ time: Double) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO deploy_schedule (repository, checked_until) VALUES (?, ?)
                    ON CONFLICT(repository) DO UPDATE SET checked_until = excluded.checked_until
                    """, arguments: [repository, time])
        }
    }

    static func deployment(from row: Row) -> Deployment {
        Deployment(
            id: row["id"], repository: row["repository"], buildID: row["build_id"], image: row["image"],
            modelVersion: row["model_version"], trigger: DeploymentTrigger(rawValue: row["trigger"]) ?? .manual,
            requestedBy: row["requested_by"], state: DeploymentState(rawValue: row["state"]) ?? .error, reason: row["reason"],
            createdAt: row["created_at"], startedAt: row["started_at"], finishedAt: row["finished_at"])
    }
}
