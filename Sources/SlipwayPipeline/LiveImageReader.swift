import Foundation
import SlipwayCore

/// Reads the image a repository's Kubernetes Deployment runs, with the kubectl call a
/// deployment makes first (`KubectlPlan.liveImage`), for the status view. Status requests
/// come from outside: one reading per repository runs at a time, and a reading is reused
/// for `freshFor`, so a flood of requests starts at most one kubectl per repository per
/// `freshFor`.
public actor LiveImageReader {
    public enum Reading: Sendable, Equatable {
        case image(String)
        /// Why it could not be read, without secrets.
        case problem(String)
    }

    let config: LiveConfig
    let toolEnvironment: [String: String]
    let freshFor: Duration
    private var readings: [String: (deploy: DeployConfig, at: ContinuousClock.Instant, reading: Reading)] = [:]
    private var inFlight: [String: (deploy: DeployConfig, task: Task<Reading, Never>)] = [:]
    private var sequence = 0

    public init(config: LiveConfig, toolEnvironment: [String: String], freshFor: Duration = .seconds(2)) {
        self.config = config
        self.toolEnvironment = toolEnvironment
        self.freshFor = freshFor
    }

    public func live(_ repository: String, deploy: DeployConfig) async -> Reading {
        let key = repository.lowercased()
        if let cached = readings[key], cached.deploy == deploy, ContinuousClock.now - cached.at < freshFor { return cached.reading }
        if let running = inFlight[key], running.deploy == deploy { return await running.task.value }
        sequence += 1
        let name = "live-\(ProcessInfo.processInfo.processIdentifier)-\(sequence)"
        let task = Task { [config, toolEnvironment] in
            await Self.read(deploy: deploy, snapshot: config.snapshot, toolEnvironment: toolEnvironment, workspaceName: name)
        }
        inFlight[key] = (deploy, task)
        let reading = await task.value
        inFlight[key] = nil
        readings[key] = (deploy, .now, reading)
        return reading
    }

    private static func read(deploy: DeployConfig, snapshot: ResolvedConfig, toolEnvironment: [String: String], workspaceName: String)
        async -> Reading
    {
        guard let kubeconfig = snapshot.secret(deploy.kubeconfig) else { return .problem("the kubeconfig secret is not available") }
        let masker = SecretMasker(secrets: snapshot.secretValues + KubeconfigSecrets.values(in: kubeconfig))
        do {
            let workspace = try KubectlWorkspace(
                stateDirectory: snapshot.config.stateDirectory, name: workspaceName, kubeconfig: kubeconfig,
                toolEnvironment: toolEnvironment)
            defer { workspace.remove() }
            let output = CapturedOutput(forwardingTo: nil)
            let plan = KubectlPlan(kubeconfigPath: workspace.kubeconfigPath, deploy: deploy)
            let result = try await ProcessRunner().run(
                plan.liveImage, workingDirectory: workspace.directory, environment: workspace.environment, timeout: .seconds(40),
                log: output)
            let text = output.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard result.succeeded else {
                let said = text.split(whereSeparator: \.isNewline).suffix(2).joined(separator: " / ")
                return .problem(
                    masker.mask(
                        "cannot read deployment/\(deploy.deployment) in \(deploy.namespace): kubectl \(result.summary)"
                            + (said.isEmpty ? "" : ": " + TerminalText.escaped(String(said.prefix(400))))))
            }
            guard !text.isEmpty else { return .problem("deployment/\(deploy.deployment) has no container \(deploy.container)") }
            return .image(TerminalText.escaped(String(text.prefix(1000))))
        } catch {
            return .problem(masker.mask("\(error)"))
        }
    }
}
