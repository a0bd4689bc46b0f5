import SlipwayCore

extension Build {
    /// The build after `event` at `time`, as every store writes it: the state the state
    /// machine allows (`BuildState.applying`, which throws `InvalidTransition` otherwise),
    /// its attempts and its times, and `reason` when one is given.
    package func applying(_ event: BuildEvent, reason: String?, at time: Double) throws -> Build {
        var build = self
        let next = try state.applying(event)
        switch (state, next) {
        case (.queued, .running):
            build.startedAt = time
            build.attempts += 1
            build.fence += 1
            build.finishedAt = nil
        case (.running, .queued):
            build.startedAt = nil
            // A checkpoint on shutdown gives the attempt back; a crash does not.
            if event == .checkpoint { build.attempts -= 1 }
        default:
            if next.isTerminal { build.finishedAt = time }
        }
        build.state = next
        if let reason { build.reason = reason }
        return build
    }
}

extension StepOutcome {
    /// What a step's record keeps of how it ended: the exit code (0: every process of the
    /// step exited 0) and the detail.
    package var recorded: (exitCode: Int32?, detail: String?) {
        switch self {
        case .success: (0, nil)
        case .canceled: (nil, nil)
        case .failure(let failure): (failure.exitCode, failure.detail)
        case .error(let text), .skipped(let text): (nil, text)
        }
    }
}
