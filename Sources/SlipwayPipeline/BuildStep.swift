import Foundation
import SlipwayCore
import SlipwayStore

/// One step of a build (checkout, test, model, image, smoke, push). Steps are run in
/// order by `BuildRunner`; the first that does not succeed ends the build.
public protocol BuildStep: Sendable {
    var name: String { get }
    /// Runs the step. Throwing `CancellationError` means the build was cancelled; any
    /// other thrown error is an infrastructure `error`.
    func run(_ context: StepContext) async throws -> StepOutcome
}

/// What a step gets to work with.
public struct StepContext: Sendable {
    public let build: Build
    public let repository: RepositoryConfig
    /// The build's own directory under `state_dir/workspaces`.
    public let workspace: String
    public let log: BuildLog
    public let processes: ProcessRunner
    /// When the whole build must be over (the repository's `timeout`).
    public let deadline: ContinuousClock.Instant
    /// Identifies this daemon's processes among others on the machine (absolute state_dir).
    public let instance: String

    public init(build: Build, repository: RepositoryConfig, workspace: String, log: BuildLog,
                processes: ProcessRunner, deadline: ContinuousClock.Instant, instance: String) {
        self.instance = instance
        self.build = build
        self.repository = repository
        self.workspace = workspace
        self.log = log
        self.processes = processes
        self.deadline = deadline
    }

    /// Time left before the build's deadline.
    public var remaining: Duration { max(.zero, deadline - .now) }

    /// The environment every child process of a build gets: a fixed PATH and the CI
    /// variables, nothing inherited from the daemon (its environment holds secrets).
    public var environment: [String: String] {
        [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": workspace,
            "LANG": "C.UTF-8",
            "CI": "true",
            "SLIPWAY": "true",
            "SLIPWAY_BUILD_ID": String(build.id),
            "SLIPWAY_REPOSITORY": build.repository,
            "SLIPWAY_REF": build.ref,
            "SLIPWAY_COMMIT_SHA": build.sha,
            "SLIPWAY_TRIGGER": build.trigger.rawValue,
            "SLIPWAY_INSTANCE": instance,
        ]
    }
}

/// Runs an argv from the config (the `test` step, the `smoke` step) in a directory.
/// A non-zero exit or running past the deadline is the project's `failure`.
public struct CommandStep: BuildStep {
    public let name: String
    public let argv: [String]
    /// Relative to the workspace.
    public let directory: String

    public init(name: String, argv: [String], directory: String = ".") {
        self.name = name
        self.argv = argv
        self.directory = directory
    }

    public func run(_ context: StepContext) async throws -> StepOutcome {
        context.log.line("$ " + argv.map(Self.quoteForDisplay).joined(separator: " "))
        let result: ProcessRunner.Result
        do {
            result = try await context.processes.run(
                argv, workingDirectory: URL(fileURLWithPath: context.workspace).appendingPathComponent(directory).path,
                environment: context.environment, timeout: context.remaining, log: context.log)
        } catch let error as ProcessRunner.LaunchError {
            // The project's own command is missing or not executable: its failure, not ours.
            return .failure(exitCode: nil, detail: error.description)
        }
        try Task.checkCancellation()
        if result.timedOut { return .failure(exitCode: nil, detail: "\(name) timed out: the build's timeout ran out") }
        if let signal = result.signal { return .failure(exitCode: nil, detail: "\(name) was killed by signal \(signal)") }
        if result.exitCode != 0 { return .failure(exitCode: result.exitCode, detail: "\(name) exited with \(result.exitCode ?? -1)") }
        return .success
    }

    /// For the log line only; the process itself gets the argv untouched.
    static func quoteForDisplay(_ argument: String) -> String {
        let plain = argument.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,@+%".contains($0) }
        return plain && !argument.isEmpty ? argument : "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
