import Foundation
import SlipwayCore
import SlipwayStore
import Synchronization

/// One step of a build (checkout, test, model, image, smoke, push). Steps are run in
/// order by `BuildRunner`; the first that does not succeed ends the build.
public protocol BuildStep: Sendable {
    var name: String { get }
    /// Runs the step. Throwing `CancellationError` means the build was cancelled; any
    /// other thrown error is an infrastructure `error`.
    func run(_ context: StepContext) async throws -> StepOutcome
    /// Runs once the build is over, whatever its outcome, for steps that ran.
    func cleanUp(_ context: StepContext) async
}

extension BuildStep {
    public func cleanUp(_ context: StepContext) async {}
}

/// What one step leaves for the next ones (the image step's local image for smoke and
/// push, the model step's provenance for the image labels).
public final class BuildArtifacts: Sendable {
    private struct Values {
        var localImage: String?
        var imageTags: [String] = []
        var model: ModelProvenance?
        var modelPath: String?
        var modelStoreCheck: String?
    }
    private let values = Mutex(Values())

    public init() {}

    public var localImage: String? {
        get { values.withLock { $0.localImage } }
        set { values.withLock { $0.localImage = newValue } }
    }

    /// The tags the image step rendered, for the push.
    public var imageTags: [String] {
        get { values.withLock { $0.imageTags } }
        set { values.withLock { $0.imageTags = newValue } }
    }

    public var model: ModelProvenance? {
        get { values.withLock { $0.model } }
        set { values.withLock { $0.model = newValue } }
    }

    /// What comparing the model's sha256 with the store's own checksum found (for the
    /// provenance statement): `matched …`, `not offered by the store`, ...
    public var modelStoreCheck: String? {
        get { values.withLock { $0.modelStoreCheck } }
        set { values.withLock { $0.modelStoreCheck = newValue } }
    }

    /// Where the model step placed the model (read-only to later build code).
    public var modelPath: String? {
        get { values.withLock { $0.modelPath } }
        set { values.withLock { $0.modelPath = newValue } }
    }
}

/// What a step gets to work with.
public struct StepContext: Sendable {
    public let build: Build
    public let repository: RepositoryConfig
    /// The config the build started with, with its secrets resolved.
    public let config: ResolvedConfig
    /// The build's own directory under `state_dir/workspaces`.
    public let workspace: String
    public let log: BuildLog
    public let processes: ProcessRunner
    public let store: any BuildRecordStore
    public let artifacts: BuildArtifacts
    /// When the whole build must be over (the repository's `timeout`).
    public let deadline: ContinuousClock.Instant
    /// When the current step must be over: its own `step_timeouts` entry or the build's deadline.
    public var stepDeadline: ContinuousClock.Instant
    /// Identifies this daemon's processes among others on the machine (absolute state_dir).
    public let instance: String
    /// Variables of the daemon's environment that container tools need (storage and
    /// registry configuration, the user's HOME); never the daemon's secrets.
    public let toolEnvironment: [String: String]
    /// What build code is kept from, and as whom it runs (`BuildCodeRunner`).
    public let sandboxHost: SandboxHost

    public init(
        build: Build, repository: RepositoryConfig, config: ResolvedConfig, workspace: String, log: BuildLog,
        processes: ProcessRunner, store: any BuildRecordStore, deadline: ContinuousClock.Instant, instance: String,
        toolEnvironment: [String: String] = ToolEnvironment.fromProcess(), sandboxHost: SandboxHost = .fromProcess()
    ) {
        self.build = build
        self.repository = repository
        self.config = config
        self.workspace = workspace
        self.log = log
        self.processes = processes
        self.store = store
        self.artifacts = BuildArtifacts()
        self.deadline = deadline
        self.stepDeadline = deadline
        self.instance = instance
        self.toolEnvironment = toolEnvironment
        self.sandboxHost = sandboxHost
    }

    public var stateDirectory: String { config.config.stateDirectory }
    /// Where the commit is checked out; the test step runs here.
    public var checkoutDirectory: String { workspace + "/src" }
    /// Scratch files of the build (credentials for one tool call, digests).
    public var scratchDirectory: String { workspace + "/tmp" }

    /// Time left for the current step.
    public var remaining: Duration { max(.zero, stepDeadline - .now) }

    /// Says which limit ended a step that timed out.
    public var timeoutDescription: String {
        stepDeadline < deadline ? "the step's timeout ran out" : "the build's timeout (\(DurationText.format(repository.timeout))) ran out"
    }

    /// The environment every child process of a build gets: a fixed PATH and the CI
    /// variables, nothing inherited from the daemon (its environment holds secrets).
    public var environment: [String: String] {
        [
            "PATH": ToolEnvironment.searchPath,
            "HOME": workspace,
            "LANG": "C.UTF-8",
            "CI": "true",
            "SLIPWAY": "true",
            "SLIPWAY_BUILD_ID": String(build.id),
            "SLIPWAY_REPOSITORY": build.repository,
            "SLIPWAY_REF": build.ref,
            "SLIPWAY_COMMIT_SHA": build.sha.hex,
            "SLIPWAY_TRIGGER": build.trigger.rawValue,
            "SLIPWAY_INSTANCE": instance,
        ]
    }

    /// Runs one of Slipway's own tools (git, buildah, docker) for this build: argv only,
    /// the command line echoed into the build log, output streamed into it.
    public func runTool(
        _ argv: [String], in directory: String? = nil, extraEnvironment: [String: String] = [:], output: (any OutputSink)? = nil,
        displayed: [String]? = nil
    ) async throws -> ProcessRunner.Result {
        var env = environment.merging(toolEnvironment) { $1 }
        env.merge(extraEnvironment) { $1 }
        return try await processes.runLogged(
            argv, in: directory ?? workspace, environment: env, timeout: remaining, log: log,
            output: output, displayed: displayed)
    }

    /// A housekeeping call (removing a container or image): not logged, own time limit.
    public func runToolQuietly(_ argv: [String], timeout: Duration, extraEnvironment: [String: String] = [:]) async throws
        -> ProcessRunner.Result
    {
        let env = environment.merging(toolEnvironment) { $1 }.merging(extraEnvironment) { $1 }
        return try await processes.run(argv, workingDirectory: workspace, environment: env, timeout: timeout, log: nil)
    }

    /// A housekeeping call's output, trimmed, when it succeeded (at most `limit` bytes kept).
    public func toolOutput(_ argv: [String], timeout: Duration, limit: Int = 4096) async -> String? {
        let output = CapturedOutput(forwardingTo: nil, limit: limit)
        let env = environment.merging(toolEnvironment) { $1 }
        guard let result = try? await processes.run(argv, workingDirectory: workspace, environment: env, timeout: timeout, log: output),
            result.succeeded
        else { return nil }
        return output.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The part of the daemon's environment that container tools read. Everything else
/// (tokens, keys) stays out of build processes.
public enum ToolEnvironment {
    /// The PATH every child process gets (never the daemon's own).
    public static let searchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    public static let passedThrough: Set<String> = [
        "HOME", "USER", "LOGNAME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "TMPDIR",
        "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF", "CONTAINERS_CONF", "STORAGE_DRIVER",
        "STORAGE_OPTS", "BUILDAH_ISOLATION", "BUILDAH_FORMAT", "DOCKER_HOST", "DOCKER_CONTEXT",
        "CONTAINER_HOST", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
        "http_proxy", "https_proxy", "no_proxy",
    ]

    public static func fromProcess(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        environment.filter { passedThrough.contains($0.key) }
    }
}

/// Runs an argv from the config (the `test` step) in the checkout, sandboxed as the
/// config says (`BuildCodeRunner`). A non-zero exit or running past the deadline is the
/// project's `failure`; a sandbox that cannot be set up is an `error`.
public struct CommandStep: BuildStep {
    public let name: String
    public let argv: [String]

    public init(name: String, argv: [String]) {
        self.name = name
        self.argv = argv
    }

    public func run(_ context: StepContext) async throws -> StepOutcome {
        let directory = FileManager.default.fileExists(atPath: context.checkoutDirectory) ? context.checkoutDirectory : context.workspace
        let outcome: BuildCodeRunner.Outcome
        do {
            outcome = try await BuildCodeRunner(context: context).run(argv, in: directory)
        } catch let error as ProcessRunner.LaunchError {
            // The project's own command is missing or not executable: its failure, not ours.
            return .failure(exitCode: nil, detail: error.description)
        }
        try Task.checkCancellation()
        switch outcome {
        case .ran(let result): return Self.outcome(of: result, step: name, context: context)
        case .sandboxFailed(let reason):
            context.log.line("the sandbox could not be set up: \(reason)")
            return .error(detail: "\(name): sandbox: \(reason)")
        }
    }

    /// A command of the project's (test, smoke): anything but exit 0 is its `failure`.
    static func outcome(of result: ProcessRunner.Result, step: String, context: StepContext) -> StepOutcome {
        if result.timedOut { return .failure(.command(step, .timedOut(limit: context.timeoutDescription))) }
        if let signal = result.signal { return .failure(.command(step, .killed(signal: signal))) }
        if result.exitCode != 0 { return .failure(.command(step, .exited(result.exitCode ?? -1))) }
        return .success
    }

    /// For the log line only; the process itself gets the argv untouched.
    static func quoteForDisplay(_ argument: String) -> String {
        let plain = argument.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,@+%".contains($0) }
        return plain && !argument.isEmpty ? argument : "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
