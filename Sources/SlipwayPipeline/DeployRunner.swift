import Foundation
import Logging
import Metrics
import SlipwayCore
import SlipwayStore
import Synchronization

/// The release step: deploys a build's image, by digest, to the repository's Kubernetes
/// Deployment with kubectl — read what is live (nothing is redeployed when the digest is
/// already there, or when the live image was built from the same commit with the same
/// model: `SameRelease`), `set image`, wait for `rollout status` within `rollout_timeout`, and
/// `rollout undo` when the rollout does not become ready. One deployment per repository
/// at a time; each has its own log (`state_dir/deploy-logs/ID.log`, secrets masked).
public final class DeployRunner: Sendable {
    let builds: any BuildQueryStore
    let deployments: any DeploymentStore
    let config: LiveConfig
    let processes: ProcessRunner
    let toolEnvironment: [String: String]
    let logger: Logger
    private let running = Mutex<[Int64: Task<Void, Never>]>([:])

    public init(
        builds: any BuildQueryStore, deployments: any DeploymentStore, config: LiveConfig, processes: ProcessRunner = ProcessRunner(),
        toolEnvironment: [String: String], logger: Logger
    ) {
        self.builds = builds
        self.deployments = deployments
        self.config = config
        self.processes = processes
        self.toolEnvironment = toolEnvironment
        self.logger = logger
    }

    public enum RequestError: Error, Equatable, CustomStringConvertible {
        case notConfigured(String)
        case noSuchBuild(Int64)
        case notDeployable(String)
        case busy(Deployment)

        public var description: String {
            switch self {
            case .notConfigured(let repository): "repository \(repository) has no deploy step configured"
            case .noSuchBuild(let id): "no such build \(id)"
            case .notDeployable(let why): why
            case .busy(let deployment): "deployment #\(deployment.id) of \(deployment.repository) is still \(deployment.state.rawValue)"
            }
        }
    }

    public static func logPath(stateDirectory: String, deploymentID: Int64) -> String {
        "\(stateDirectory)/deploy-logs/\(deploymentID).log"
    }

    /// Stores a deployment of `buildID` (default: the newest successful build with a
    /// pushed image) and starts it in the background.
    public func request(repository name: String, buildID: Int64?, trigger: DeploymentTrigger, requestedBy: String) async throws
        -> Deployment
    {
        guard let repository = config.snapshot.config.repository(named: name), repository.deploy != nil else {
            throw RequestError.notConfigured(name)
        }
        let build: Build
        if let buildID {
            guard let found = try await builds.build(id: buildID) else { throw RequestError.noSuchBuild(buildID) }
            guard found.repository == repository.name else {
                throw RequestError.notDeployable("build \(buildID) is of \(found.repository), not \(repository.name)")
            }
            guard found.state == .success, found.image?.digest != nil else {
                throw RequestError.notDeployable(
                    "build \(buildID) is \(found.state.rawValue) and has \(found.image?.digest == nil ? "no pushed image" : "an image"); only a successful build with a pushed image can be deployed"
                )
            }
            build = found
        } else {
            guard let newest = try await deployments.newestDeployableBuild(repository: repository.name) else {
                throw RequestError.notDeployable("\(repository.name) has no successful build with a pushed image yet")
            }
            build = newest
        }
        guard let image = build.image, let digest = image.digest else {
            throw RequestError.notDeployable("build \(build.id) has no pushed image")
        }
        let reference = "\(image.name)@\(digest)"
        switch try await deployments.createDeployment(of: build, image: reference, trigger: trigger, requestedBy: requestedBy) {
        case .busy(let active):
            throw RequestError.busy(active)
        case .created(let deployment):
            // Registered under the lock before the task can remove itself.
            running.withLock { tasks in
                tasks[deployment.id] = Task { [self] in
                    await run(deployment)
                    _ = running.withLock { $0.removeValue(forKey: deployment.id) }
                }
            }
            return deployment
        }
    }

    /// Stops running deployments (daemon shutdown): their kubectl is stopped and they end
    /// as `error`; the cluster keeps whatever rollout state it reached.
    public func stopAll() async {
        let tasks = running.withLock { Array($0.values) }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    public var isIdle: Bool { running.withLock { $0.isEmpty } }
}
