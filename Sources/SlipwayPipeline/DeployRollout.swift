import Foundation
import Logging
import Metrics
import SlipwayCore
import SlipwayRegistry

extension DeployRunner {
    /// `slipway_deployments_total{state}`.
    static func counter(_ state: DeploymentState) -> Counter {
        Counter(label: "slipway_deployments_total", dimensions: [("state", state.rawValue)])
    }

    /// Declares every series of this runner's metrics at 0 (after the metrics bootstrap).
    public static func declareMetrics() {
        for state in DeploymentState.allCases where state.isTerminal { counter(state).increment(by: 0) }
    }

    /// Runs one stored deployment to its end; never throws: every end is a state.
    func run(_ deployment: Deployment) async {
        var logger = self.logger
        logger[metadataKey: "deployment"] = "\(deployment.id)"
        logger[metadataKey: "repo"] = "\(deployment.repository)"
        logger[metadataKey: "build"] = "\(deployment.buildID)"
        let snapshot = config.snapshot
        let (state, reason) = await rollOut(deployment, snapshot: snapshot, logger: logger)
        do {
            try await deployments.finishDeployment(id: deployment.id, state: state, reason: reason)
        } catch {
            logger.error("cannot record the deployment's end", metadata: ["error": "\(error)"])
        }
        Self.counter(state).increment()
        logger.notice("deployment finished", metadata: ["state": "\(state.rawValue)", "image": "\(deployment.image)"])
    }

    /// `SameRelease.reason` for the live image: from the two images' labels, read from the
    /// registry with the repository's `registry_auth`; when the registry cannot be read,
    /// from the build that pushed the live digest, when Slipway knows it. Neither: deploy.
    private func sameRelease(live liveImage: String, as deployment: Deployment, snapshot: ResolvedConfig, log: BuildLog) async
        -> String?
    {
        let name = String(deployment.image.prefix { $0 != "@" })
        guard let digest = SameRelease.digest(of: liveImage, named: name), let reference = ImageReference(name) else { return nil }
        let auth = snapshot.config.repository(named: deployment.repository)?.image?.registryAuth.flatMap { snapshot.secret($0) }
        let client = RegistryClient.forImage(
            reference, authFileContents: auth.map { Data($0.utf8) }, registriesConf: toolEnvironment["CONTAINERS_REGISTRIES_CONF"])
        do {
            let candidate = String(deployment.image.drop { $0 != "@" }.dropFirst())
            let liveLabels = try await client.labels(reference, reference: digest)
            let candidateLabels = try await client.labels(reference, reference: candidate)
            return SameRelease.reason(liveLabels: liveLabels, candidateLabels: candidateLabels)
        } catch {
            log.line("cannot read the images' labels from the registry (\(error)): comparing the builds Slipway recorded")
        }
        do {
            guard let live = try await deployments.build(repository: deployment.repository, imageDigest: digest),
                let candidate = try await builds.build(id: deployment.buildID)
            else { return nil }
            return SameRelease.reason(live: live, candidate: candidate)
        } catch {
            log.line("cannot look up the build of the live image (\(error)): deploying")
            return nil
        }
    }

    /// `deploy.require_provenance`: nil when the image's attestation verifies with the
    /// repository's key and names the image's digest (or no gate is set); else why not.
    private func provenanceGate(_ deployment: Deployment, snapshot: ResolvedConfig, log: BuildLog) async -> String? {
        guard let key = snapshot.provenanceGateKey(forRepository: deployment.repository) else { return nil }
        let name = String(deployment.image.prefix { $0 != "@" })
        guard let digest = SameRelease.digest(of: deployment.image, named: name), let reference = ImageReference(name) else {
            return "the image \(deployment.image) is not named by digest; its provenance cannot be checked"
        }
        let auth = snapshot.config.repository(named: deployment.repository)?.image?.registryAuth.flatMap { snapshot.secret($0) }
        let client = RegistryClient.forImage(
            reference, authFileContents: auth.map { Data($0.utf8) }, registriesConf: toolEnvironment["CONTAINERS_REGISTRIES_CONF"])
        let envelopes: [Data]
        do {
            envelopes = try await client.attestations(for: reference, digest: digest)
        } catch {
            return "the image's provenance cannot be read from the registry: \(error)"
        }
        do {
            let verified = try AttestationCheck.verify(envelopes, key: key, image: name, digest: digest)
            log.line(
                "provenance: verified (\(key.algorithm.rawValue), key id \(verified.keyIDs.joined(separator: ", "))): built by \(verified.invocation), commit \(verified.dependency("source")?.digest["gitCommit"] ?? "-")"
            )
            return nil
        } catch {
            return "require_provenance: \(error)"
        }
    }

    private func rollOut(_ deployment: Deployment, snapshot: ResolvedConfig, logger: Logger) async -> (DeploymentState, String?) {
        let stateDirectory = snapshot.config.stateDirectory
        guard let deploy = snapshot.config.repository(named: deployment.repository)?.deploy else {
            return (.error, "repository \(deployment.repository) no longer has a deploy step")
        }
        guard let kubeconfig = snapshot.secret(deploy.kubeconfig) else { return (.error, "the kubeconfig secret is not available") }
        let log: BuildLog
        do {
            log = try BuildLog(
                path: Self.logPath(stateDirectory: stateDirectory, deploymentID: deployment.id),
                masker: SecretMasker(secrets: snapshot.secretValues + KubeconfigSecrets.values(in: kubeconfig)))
        } catch {
            return (.error, "cannot open the deployment log: \(error)")
        }
        defer { log.close() }
        // kubectl's home (its discovery cache) and the kubeconfig: private to this deployment.
        let workspace: KubectlWorkspace
        do {
            workspace = try KubectlWorkspace(
                stateDirectory: stateDirectory, name: "deploy-\(deployment.id)", kubeconfig: kubeconfig, toolEnvironment: toolEnvironment)
        } catch {
            return (.error, "cannot prepare the deployment: \(error)")
        }
        defer { workspace.remove() }
        do {
            try await deployments.startDeployment(id: deployment.id)
        } catch {
            return (.error, "cannot prepare the deployment: \(error)")
        }
        log.header(
            "deployment #\(deployment.id) of \(deployment.repository): build #\(deployment.buildID) → \(deploy.namespace)/deployment/\(deploy.deployment) container \(deploy.container)"
        )
        log.line("image \(deployment.image)\(deployment.modelVersion.map { " (model version \($0))" } ?? "")")
        let plan = KubectlPlan(kubeconfigPath: workspace.kubeconfigPath, deploy: deploy)
        let processes = self.processes
        @Sendable func kubectl(_ argv: [String], timeout: Duration) async throws -> (ProcessRunner.Result, String) {
            let captured = CapturedOutput(forwardingTo: log)
            let result = try await processes.runLogged(
                argv, in: workspace.directory, environment: workspace.environment, timeout: timeout, log: log, output: captured)
            return (result, captured.text)
        }

        if let refused = await provenanceGate(deployment, snapshot: snapshot, log: log) {
            log.header("refused: \(refused)")
            return (.failure, refused)
        }
        do {
            let (read, live) = try await kubectl(plan.liveImage, timeout: .seconds(60))
            guard read.succeeded else {
                return (.error, "cannot read deployment/\(deploy.deployment) in \(deploy.namespace): kubectl \(read.summary)")
            }
            let liveImage = live.trimmingCharacters(in: .whitespacesAndNewlines)
            log.line(liveImage.isEmpty ? "no container \(deploy.container) in deployment/\(deploy.deployment)" : "live: \(liveImage)")
            guard !liveImage.isEmpty else { return (.error, "deployment/\(deploy.deployment) has no container \(deploy.container)") }
            if liveImage == deployment.image {
                log.header("skipped: \(deployment.image) is already live")
                return (.skipped, "already live")
            }
            if let same = await sameRelease(live: liveImage, as: deployment, snapshot: snapshot, log: log) {
                log.header("skipped: \(same); \(deployment.image) differs from it only by its rebuild")
                return (.skipped, same)
            }
            try Task.checkCancellation()
            let (set, _) = try await kubectl(plan.setImage(deployment.image), timeout: .seconds(60))
            guard set.succeeded else { return (.error, "kubectl set image failed: \(set.summary)") }
            let (status, _) = try await kubectl(plan.rolloutStatus, timeout: deploy.rolloutTimeout + .seconds(30))
            if status.succeeded {
                log.header("deployed \(deployment.image)")
                return (.success, nil)
            }
            try Task.checkCancellation()
            let why = "rollout of \(deployment.image) did not become ready within \(DurationText.format(deploy.rolloutTimeout))"
            log.header("\(why); rolling back")
            let (undo, _) = try await uncancelled { try await kubectl(plan.rolloutUndo, timeout: .seconds(60)) }
            guard undo.succeeded else { return (.error, "\(why), and kubectl rollout undo failed: \(undo.summary)") }
            log.header("rolled back to \(liveImage)")
            return (.failure, "\(why); rolled back to \(liveImage)")
        } catch is CancellationError {
            log.header("stopped: the daemon is shutting down")
            return (.error, "stopped by daemon shutdown")
        } catch {
            log.line("\(error)")
            return (.error, "\(error)")
        }
    }
}
