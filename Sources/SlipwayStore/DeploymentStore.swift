import SlipwayCore

/// Durable state of deployments and of the deploy schedule (see `BuildStore`).
public protocol DeploymentStore: Sendable {
    /// Stores a `queued` deployment of `build`, unless one of the repository is already
    /// queued or running (then that one is returned as `.busy`). One transaction.
    func createDeployment(of build: Build, image: String, trigger: DeploymentTrigger, requestedBy: String) async throws
        -> DeploymentCreation
    func deployment(id: Int64) async throws -> Deployment?
    func deployments(repository: String?, limit: Int) async throws -> [Deployment]
    func startDeployment(id: Int64) async throws
    func finishDeployment(id: Int64, state: DeploymentState, reason: String?) async throws
    /// The newest `success` build of `repository` that has a pushed image digest.
    func newestDeployableBuild(repository: String) async throws -> Build?
    /// The newest build of `repository` that pushed the image with this digest, if any.
    func build(repository: String, imageDigest: String) async throws -> Build?
    /// Deployments left queued or running by a stopped daemon end as `error`; returned as
    /// ended. (SQLite: every such deployment, at start-up. PostgreSQL: those whose
    /// replica's lease ran out.)
    func recoverInterruptedDeployments() async throws -> [Deployment]
    /// Until when the schedule of `repository` has been looked at (nil: never).
    func scheduleCheckedUntil(repository: String) async throws -> Double?
    func setScheduleCheckedUntil(repository: String, _ time: Double) async throws
}

public enum DeploymentCreation: Sendable, Equatable {
    case created(Deployment)
    case busy(Deployment)
}
