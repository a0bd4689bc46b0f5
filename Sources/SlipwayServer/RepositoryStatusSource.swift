import SlipwayCore
import SlipwayPipeline
import SlipwayStore

/// Assembles "what runs where" (`RepositoryStatus`) for the API and the pages: the newest
/// build of each branch from the store; with `deploy:`, the live image (`LiveImageReader`),
/// the build that pushed its digest, Slipway's last deployment and the drift between them.
struct RepositoryStatusSource: Sendable {
    let builds: any BuildQueryStore
    let deployments: (any DeploymentStore)?
    let live: LiveImageReader?
    let config: LiveConfig

    /// Every configured repository, in config order; their live images read at once.
    func all() async throws -> [RepositoryStatus] {
        let repositories = config.snapshot.config.repositories
        return try await withThrowingTaskGroup(of: (Int, RepositoryStatus).self) { group in
            for (index, repository) in repositories.enumerated() {
                group.addTask { (index, try await status(of: repository)) }
            }
            var found: [(Int, RepositoryStatus)] = []
            for try await item in group { found.append(item) }
            return found.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    func status(of repository: RepositoryConfig) async throws -> RepositoryStatus {
        let newest = try await builds.newestBuildPerRef(repository: repository.name)
        let branches = BranchStatus.newestPerBranch(newest, repository: repository).map {
            BranchStatus(branch: $0.branch, build: BuildJSON($0.build, steps: nil))
        }
        guard let deploy = repository.deploy, let deployments, let live else {
            return RepositoryStatus(repository: repository.name, branches: branches, deploy: nil)
        }
        let reading = await live.live(repository.name, deploy: deploy)
        let lastDeployed = try await deployments.deployments(repository: repository.name, limit: 200).first { $0.state == .success }
        var liveImage: String?
        var liveError: String?
        var liveBuild: Build?
        switch reading {
        case .image(let image):
            liveImage = image
            if let digest = ReleaseDrift.digest(of: image) {
                liveBuild = try await deployments.build(repository: repository.name, imageDigest: digest)
            }
        case .problem(let problem): liveError = problem
        }
        return RepositoryStatus(
            repository: repository.name, branches: branches,
            deploy: DeployStatus(
                namespace: deploy.namespace, deployment: deploy.deployment, container: deploy.container, liveImage: liveImage,
                liveError: liveError, liveBuild: liveBuild.map { BuildJSON($0, steps: nil) },
                lastDeployment: lastDeployed.map(DeploymentJSON.init),
                drift: liveImage.flatMap { ReleaseDrift.between(liveImage: $0, lastDeployed: lastDeployed) }))
    }
}
