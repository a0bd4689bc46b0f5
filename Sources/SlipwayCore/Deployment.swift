import Foundation

/// A release of one build's image to the repository's Kubernetes Deployment.
///
/// `queued` → `running` → `success` | `failure` (the rollout did not become ready and was
/// rolled back) | `error` (kubectl or the cluster could not be used) | `skipped` (the
/// image was already live: nothing redeployed).
public enum DeploymentState: String, Sendable, CaseIterable, Codable {
    case queued, running, success, failure, error, skipped

    public var isTerminal: Bool { self != .queued && self != .running }
}

public enum DeploymentTrigger: String, Sendable, Codable {
    /// `POST /api/v1/deployments`, `slipway deploy`.
    case manual
    /// `deploy.schedule`, including a run caught up at start-up.
    case schedule
}

public struct Deployment: Sendable, Equatable {
    public var id: Int64
    public var repository: String
    public var buildID: Int64
    /// `name@sha256:…`: always by digest, never a mutable tag.
    public var image: String
    public var modelVersion: String?
    public var trigger: DeploymentTrigger
    /// The API token's name, or "schedule".
    public var requestedBy: String
    public var state: DeploymentState
    public var reason: String?
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?

    public init(
        id: Int64, repository: String, buildID: Int64, image: String, modelVersion: String?, trigger: DeploymentTrigger,
        requestedBy: String, state: DeploymentState, reason: String?, createdAt: Double, startedAt: Double?, finishedAt: Double?
    ) {
        self.id = id; self.repository = repository; self.buildID = buildID; self.image = image; self.modelVersion = modelVersion
        self.trigger = trigger; self.requestedBy = requestedBy; self.state = state; self.reason = reason
        self.createdAt = createdAt; self.startedAt = startedAt; self.finishedAt = finishedAt
    }
}

/// A deployment as the API shows it.
public struct DeploymentJSON: Codable, Sendable {
    public let id: Int64, repository: String, build: Int64, image: String, modelVersion: String?, trigger: String
    public let requestedBy: String, state: String, reason: String?, createdAt: Double, startedAt: Double?, finishedAt: Double?

    public init(_ deployment: Deployment) {
        id = deployment.id; repository = deployment.repository; build = deployment.buildID; image = deployment.image
        modelVersion = deployment.modelVersion; trigger = deployment.trigger.rawValue; requestedBy = deployment.requestedBy
        state = deployment.state.rawValue; reason = deployment.reason; createdAt = deployment.createdAt
        startedAt = deployment.startedAt; finishedAt = deployment.finishedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, repository, build, image, trigger, state, reason
        case modelVersion = "model_version", requestedBy = "requested_by", createdAt = "created_at"
        case startedAt = "started_at", finishedAt = "finished_at"
    }
}

public struct DeploymentList: Codable, Sendable {
    public let deployments: [DeploymentJSON]
    public init(deployments: [DeploymentJSON]) { self.deployments = deployments }
}

/// The kubectl command lines of one deployment (argv only, no shell): read the live
/// image, set the new one by digest, wait for the rollout, undo it.
public struct KubectlPlan: Sendable, Equatable {
    public let kubeconfigPath: String
    public let deploy: DeployConfig

    public init(kubeconfigPath: String, deploy: DeployConfig) {
        self.kubeconfigPath = kubeconfigPath
        self.deploy = deploy
    }

    var prefix: [String] { ["kubectl", "--kubeconfig", kubeconfigPath, "--namespace", deploy.namespace] }
    var target: String { "deployment/\(deploy.deployment)" }

    public var liveImage: [String] {
        prefix + [
            "--request-timeout=30s", "get", "deployment", deploy.deployment,
            "-o", "jsonpath={.spec.template.spec.containers[?(@.name==\"\(deploy.container)\")].image}",
        ]
    }

    public func setImage(_ image: String) -> [String] {
        prefix + ["--request-timeout=30s", "set", "image", target, "\(deploy.container)=\(image)"]
    }

    public var rolloutStatus: [String] {
        prefix + ["rollout", "status", target, "--timeout=\(deploy.rolloutTimeout.components.seconds)s"]
    }

    public var rolloutUndo: [String] { prefix + ["--request-timeout=30s", "rollout", "undo", target] }
}

/// The secret values inside a kubeconfig (bearer tokens, client keys, passwords), so the
/// deployment log masks each of them, not only the whole file.
public enum KubeconfigSecrets {
    static let keys = ["token", "client-key-data", "password", "id-token", "refresh-token", "access-token"]

    public static func values(in kubeconfig: String) -> [String] {
        kubeconfig.split(whereSeparator: \.isNewline).compactMap { line in
            let text = line.trimmingCharacters(in: .whitespaces)
            guard let colon = text.firstIndex(of: ":"), keys.contains(String(text[..<colon])) else { return nil }
            let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                .trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            return value.count >= 4 ? value : nil
        }
    }
}

/// Whether deploying a build would change nothing that runs: the live image was built from
/// the same commit with the same model (what its `org.opencontainers.image.revision` and
/// `ai.slipway.model.sha256` labels say, recorded on the build that pushed it), although
/// its digest differs, as a rebuild's does (a new creation time, a new build id label).
public enum SameRelease {
    /// The digest of `reference` (`name@sha256:…`) when it names the image `name`.
    public static func digest(of reference: String, named name: String) -> String? {
        guard let at = reference.lastIndex(of: "@"), reference[..<at] == name else { return nil }
        let digest = String(reference[reference.index(after: at)...])
        return digest.hasPrefix("sha256:") && digest.count == 71 ? digest : nil
    }

    /// Why deploying an image with `candidate` labels over the live image with `live`
    /// labels is not needed; nil when the commit or the model differ, or when the live
    /// image does not say which commit it was built from.
    public static func reason(liveLabels live: [String: String], candidateLabels candidate: [String: String]) -> String? {
        let (revision, model, build) = ("org.opencontainers.image.revision", "ai.slipway.model.sha256", "ai.slipway.build")
        guard let commit = live[revision], !commit.isEmpty, commit == candidate[revision], live[model] == candidate[model],
            live[build] != candidate[build] || live[build] == nil
        else { return nil }
        let what = live[model].map { "model sha256 \(String($0.prefix(12)))…" } ?? "no model"
        let whose = live[build].map { "the live image (build #\($0))" } ?? "the live image"
        return "\(whose) has the same commit \(String(commit.prefix(7))) and \(what)"
    }

    /// Why deploying `candidate` over the live image of build `live` is not needed; nil
    /// when the commit or the model differ.
    public static func reason(live: Build, candidate: Build) -> String? {
        guard live.id != candidate.id, live.sha == candidate.sha, live.model?.sha256 == candidate.model?.sha256 else { return nil }
        let model = candidate.model.map { "model sha256 \(String($0.sha256.prefix(12)))…" } ?? "no model"
        return "the live image (build #\(live.id)) has the same commit \(candidate.sha.short) and \(model)"
    }
}
