/// "What runs where": per repository the newest build of each branch it builds and, with
/// `deploy:`, the image live in the cluster, the build that produced it and whether it is
/// the one Slipway deployed last. The wire form of `GET /api/v1/repositories[/{owner}/{name}]`
/// and `slipway status`.
public struct RepositoryStatusList: Codable, Sendable {
    public let repositories: [RepositoryStatus]

    public init(repositories: [RepositoryStatus]) { self.repositories = repositories }
}

public struct RepositoryStatus: Codable, Sendable {
    public let repository: String
    /// The newest build of each branch the repository builds, by branch name.
    public let branches: [BranchStatus]
    /// nil when the repository has no `deploy:`.
    public let deploy: DeployStatus?

    public init(repository: String, branches: [BranchStatus], deploy: DeployStatus?) {
        self.repository = repository
        self.branches = branches
        self.deploy = deploy
    }
}

public struct BranchStatus: Codable, Sendable {
    public let branch: String
    public let build: BuildJSON

    public init(branch: String, build: BuildJSON) {
        self.branch = branch
        self.build = build
    }
}

public struct DeployStatus: Codable, Sendable {
    public let namespace: String, deployment: String, container: String
    /// The container's image as the cluster's Deployment names it; nil when it could not
    /// be read (`liveError` says why).
    public let liveImage: String?
    public let liveError: String?
    /// The build that pushed the live image's digest, when Slipway built it: its commit,
    /// model source, version and sha256.
    public let liveBuild: BuildJSON?
    /// The newest deployment Slipway carried out (`success`): when, by whom, which image.
    public let lastDeployment: DeploymentJSON?
    /// Set when the live image is not the one of `lastDeployment`.
    public let drift: ReleaseDrift?

    public init(
        namespace: String, deployment: String, container: String, liveImage: String?, liveError: String?, liveBuild: BuildJSON?,
        lastDeployment: DeploymentJSON?, drift: ReleaseDrift?
    ) {
        self.namespace = namespace
        self.deployment = deployment
        self.container = container
        self.liveImage = liveImage
        self.liveError = liveError
        self.liveBuild = liveBuild
        self.lastDeployment = lastDeployment
        self.drift = drift
    }

    enum CodingKeys: String, CodingKey {
        case namespace, deployment, container, drift
        case liveImage = "live_image", liveError = "live_error", liveBuild = "live_build", lastDeployment = "last_deployment"
    }
}

/// The live image differs from the one Slipway deployed last: someone ran `kubectl set
/// image` by hand, or undid a rollout outside Slipway.
public struct ReleaseDrift: Codable, Sendable, Equatable {
    public let liveImage: String
    /// `sha256:…`, nil when the live image is named by a tag.
    public let liveDigest: String?
    public let deployedImage: String
    public let deployedDigest: String?
    /// The deployment that set `deployedImage`.
    public let deployment: Int64
    public let description: String

    enum CodingKeys: String, CodingKey {
        case description, deployment
        case liveImage = "live_image", liveDigest = "live_digest", deployedImage = "deployed_image", deployedDigest = "deployed_digest"
    }

    /// nil when `liveImage` is the image `lastDeployed` set (by digest), or when Slipway
    /// has deployed nothing yet (then nothing can have drifted from it).
    public static func between(liveImage: String, lastDeployed: Deployment?) -> ReleaseDrift? {
        guard let last = lastDeployed, liveImage != last.image else { return nil }
        let liveDigest = digest(of: liveImage)
        let deployedDigest = digest(of: last.image)
        if let liveDigest, liveDigest == deployedDigest { return nil }
        return ReleaseDrift(
            liveImage: liveImage, liveDigest: liveDigest, deployedImage: last.image, deployedDigest: deployedDigest, deployment: last.id,
            description:
                "the live image \(liveDigest ?? liveImage) is not \(deployedDigest ?? last.image), which Slipway deployed last (deployment #\(last.id)): changed outside Slipway"
        )
    }

    /// The `sha256:` digest an image reference pins, if any.
    public static func digest(of image: String) -> String? {
        guard let at = image.lastIndex(of: "@") else { return nil }
        return SameRelease.digest(of: image, named: String(image[..<at]))
    }
}

extension BranchStatus {
    /// The newest build of each branch `repository` builds (its `branches:` patterns; with
    /// none, every branch that has a build: a push builds the default branch only), from
    /// the newest build of each ref. Sorted by branch name.
    public static func newestPerBranch(_ newestPerRef: [Build], repository: RepositoryConfig) -> [(branch: String, build: Build)] {
        newestPerRef.compactMap { build -> (branch: String, build: Build)? in
            guard let branch = build.branch else { return nil }
            if let patterns = repository.branches, !patterns.contains(where: { Glob.matches($0, branch) }) { return nil }
            return (branch, build)
        }.sorted { $0.branch < $1.branch }
    }
}
