/// The states a step record goes through: `running`, then how the step ended.
public enum StepState: String, Sendable, Codable, CaseIterable {
    case running, success, failure, error, canceled, skipped
}

/// How one step of a build ended. Made by the steps, recorded by the store, shown by the
/// API, the pages and (for the step that ended the build) the commit status.
public enum StepOutcome: Sendable, Equatable {
    case success
    /// The project's doing (a test that fails, a Dockerfile that does not build).
    case failure(StepFailure)
    /// Slipway's or the host's doing (a registry down, a sandbox that cannot start).
    case error(detail: String)
    case canceled
    case skipped(detail: String)

    public static func failure(exitCode: Int32?, detail: String) -> StepOutcome {
        .failure(StepFailure(detail: detail, exitCode: exitCode))
    }

    /// The state the step's record ends in.
    public var state: StepState {
        switch self {
        case .success: .success
        case .failure: .failure
        case .error: .error
        case .canceled: .canceled
        case .skipped: .skipped
        }
    }
}

/// Why a step failed: the text kept with the build, the exit code when a process's ended
/// it, and, when a command of the project's failed, the short summary GitHub shows.
public struct StepFailure: Sendable, Equatable, CustomStringConvertible {
    public let detail: String
    public let exitCode: Int32?
    /// "tests failed (exit 3)"; nil when the detail says it as well.
    public let summary: String?

    public init(detail: String, exitCode: Int32?, summary: String? = nil) {
        self.detail = detail
        self.exitCode = exitCode
        self.summary = summary
    }

    public var description: String { detail }

    /// How a command of the project's (test, smoke) ended when it did not exit 0.
    public enum CommandEnd: Sendable, Equatable {
        case exited(Int32)
        case killed(signal: Int32)
        /// `limit` says which deadline ended it ("step timeout 5m").
        case timedOut(limit: String)
    }

    /// Only a failing test step gets a summary of its own ("tests failed (exit 3)");
    /// other commands show their detail.
    public static func command(_ step: String, _ end: CommandEnd) -> StepFailure {
        let isTest = step == "test"
        switch end {
        case .exited(let code):
            return StepFailure(detail: "\(step) exited with \(code)", exitCode: code, summary: isTest ? "tests failed (exit \(code))" : nil)
        case .killed(let signal):
            return StepFailure(detail: "\(step) was killed by signal \(signal)", exitCode: nil)
        case .timedOut(let limit):
            return StepFailure(detail: "\(step) timed out: \(limit)", exitCode: nil, summary: isTest ? "tests timed out" : nil)
        }
    }
}
