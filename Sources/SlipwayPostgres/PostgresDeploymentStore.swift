import Foundation
import Logging
import PostgresNIO
import SlipwayCore
import SlipwayStore

/// Deployments and the deploy schedule on PostgreSQL. One deployment of a repository is
/// queued or running at a time across the cluster (a unique partial index decides, not a
/// prior read), and a deployment holds a lease like a build, renewed with the builds'
/// (`renewLeases`): a replica's start-up ends as interrupted only the deployments whose
/// replica is gone, not those another replica is running.
extension PostgresBuildStore: DeploymentStore {
    static let deploymentColumns =
        "id, repository, build_id, image, model_version, trigger, requested_by, state, reason, created_at, started_at, finished_at"

    public func createDeployment(of build: Build, image: String, trigger: DeploymentTrigger, requestedBy: String) async throws
        -> DeploymentCreation
    {
        let now = Date().timeIntervalSince1970
        return try await transaction { [self] connection in
            let inserted = try await connection.query(
                """
                INSERT INTO deployment (repository, build_id, image, model_version, trigger, requested_by, state, created_at,
                lease_owner, lease_expires_at)
                VALUES (\(build.repository), \(build.id), \(image), \(build.model?.version), \(trigger.rawValue), \(requestedBy),
                'queued', \(now), \(replica), clock_timestamp() + make_interval(secs => \(leaseSeconds)))
                ON CONFLICT (repository) WHERE state IN ('queued', 'running') DO NOTHING
                RETURNING \(unescaped: Self.deploymentColumns)
                """, logger: logger)
            if let created = try await Self.deployments(inserted).first { return .created(created) }
            let active = try await connection.query(
                """
                SELECT \(unescaped: Self.deploymentColumns) FROM deployment
                WHERE repository = \(build.repository) AND state IN ('queued', 'running') ORDER BY id LIMIT 1
                """, logger: logger)
            guard let busy = try await Self.deployments(active).first else { throw PostgresProblem.noRowReturned("deployment") }
            return .busy(busy)
        }
    }

    public func deployment(id: Int64) async throws -> Deployment? {
        try await database.client.withConnection { [logger] connection in
            try await Self.deployments(
                try await connection.query(
                    "SELECT \(unescaped: Self.deploymentColumns) FROM deployment WHERE id = \(id)", logger: logger)
            ).first
        }
    }

    public func deployments(repository: String?, limit: Int) async throws -> [Deployment] {
        try await database.client.withConnection { [logger] connection in
            let rows =
                if let repository {
                    try await connection.query(
                        """
                        SELECT \(unescaped: Self.deploymentColumns) FROM deployment WHERE repository = \(repository)
                        ORDER BY id DESC LIMIT \(limit)
                        """, logger: logger)
                } else {
                    try await connection.query(
                        "SELECT \(unescaped: Self.deploymentColumns) FROM deployment ORDER BY id DESC LIMIT \(limit)", logger: logger)
                }
            return try await Self.deployments(rows)
        }
    }

    public func startDeployment(id: Int64) async throws {
        let now = Date().timeIntervalSince1970
        try await transaction { [self] connection in
            _ = try await connection.query(
                """
                UPDATE deployment SET state = 'running', started_at = \(now), lease_owner = \(replica),
                lease_expires_at = clock_timestamp() + make_interval(secs => \(leaseSeconds)) WHERE id = \(id) AND state = 'queued'
                """, logger: logger)
        }
    }

    public func finishDeployment(id: Int64, state: DeploymentState, reason: String?) async throws {
        precondition(state.isTerminal, "a deployment finishes in a terminal state")
        let now = Date().timeIntervalSince1970
        try await transaction { [logger] connection in
            _ = try await connection.query(
                """
                UPDATE deployment SET state = \(state.rawValue), reason = \(reason), finished_at = \(now), lease_owner = NULL,
                lease_expires_at = NULL WHERE id = \(id) AND state IN ('queued', 'running')
                """, logger: logger)
        }
    }

    public func newestDeployableBuild(repository: String) async throws -> Build? {
        try await database.client.withConnection { [logger] connection in
            try await PostgresBuildRow.builds(
                try await connection.query(
                    """
                    SELECT \(unescaped: PostgresBuildRow.columns) FROM build
                    WHERE repository = \(repository) AND state = 'success' AND image_digest IS NOT NULL ORDER BY id DESC LIMIT 1
                    """, logger: logger)
            ).first
        }
    }

    public func build(repository: String, imageDigest: String) async throws -> Build? {
        try await database.client.withConnection { [logger] connection in
            try await PostgresBuildRow.builds(
                try await connection.query(
                    """
                    SELECT \(unescaped: PostgresBuildRow.columns) FROM build
                    WHERE repository = \(repository) AND image_digest = \(imageDigest) ORDER BY id DESC LIMIT 1
                    """, logger: logger)
            ).first
        }
    }

    /// Deployments whose replica stopped renewing their lease end as `error`.
    public func recoverInterruptedDeployments() async throws -> [Deployment] {
        let now = Date().timeIntervalSince1970
        return try await transaction { [logger] connection in
            try await Self.deployments(
                try await connection.query(
                    """
                    UPDATE deployment SET state = 'error', reason = 'interrupted: the replica running it stopped during the deployment',
                    finished_at = \(now), lease_owner = NULL, lease_expires_at = NULL
                    WHERE state IN ('queued', 'running') AND lease_expires_at < clock_timestamp()
                    RETURNING \(unescaped: Self.deploymentColumns)
                    """, logger: logger))
        }
    }

    public func scheduleCheckedUntil(repository: String) async throws -> Double? {
        try await database.client.withConnection { [logger] connection in
            var checked: Double?
            for try await time in try await connection.query(
                "SELECT checked_until FROM deploy_schedule WHERE repository = \(repository)", logger: logger
            ).decode(Double.self) {
                checked = time
            }
            return checked
        }
    }

    public func setScheduleCheckedUntil(repository: String, _ time: Double) async throws {
        try await transaction { [logger] connection in
            _ = try await connection.query(
                """
                INSERT INTO deploy_schedule (repository, checked_until) VALUES (\(repository), \(time))
                ON CONFLICT (repository) DO UPDATE SET checked_until = EXCLUDED.checked_until
                """, logger: logger)
        }
    }

    /// Deployments from rows of `SELECT \(deploymentColumns)`; a state or trigger no
    /// version writes is a `StoredValueError` naming the row.
    static func deployments(_ rows: PostgresRowSequence) async throws -> [Deployment] {
        var deployments: [Deployment] = []
        for try await (id, repository, buildID, image, modelVersion, trigger, requestedBy, state, reason, created, started, finished)
            in rows.decode((Int64, String, Int64, String, String?, String, String, String, String?, Double, Double?, Double?).self)
        {
            guard let trigger = DeploymentTrigger(rawValue: trigger) else {
                throw StoredValueError(table: "deployment", row: "\(id)", column: "trigger", value: trigger)
            }
            guard let state = DeploymentState(rawValue: state) else {
                throw StoredValueError(table: "deployment", row: "\(id)", column: "state", value: state)
            }
            deployments.append(
                Deployment(
                    id: id, repository: repository, buildID: buildID, image: image, modelVersion: modelVersion, trigger: trigger,
                    requestedBy: requestedBy, state: state, reason: reason, createdAt: created, startedAt: started, finishedAt: finished))
        }
        return deployments
    }
}
