import Foundation
import Logging
import Metrics
import SlipwayCore
import SlipwayStore

/// Why a running build is being stopped from outside.
public enum StopReason: Sendable, Equatable {
    case canceled(by: String)
    case superseded(by: Int64)
    /// Shutdown ran out of grace: back to `queued`, resumed at the next start.
    case checkpoint
    /// Another replica took the build over (this one did not renew its lease in time):
    /// its processes stop and nothing more is written for this attempt.
    case leaseLost
    /// An operator canceled it through another replica, which recorded the cancel: its
    /// processes stop here and nothing more is written.
    case canceledElsewhere(by: String)
}

/// Runs one claimed build: its steps in order, each recorded in the store and the build
/// log, then the final state. Never throws: every way a build can end is a state.
public struct BuildRunner: Sendable {
    public typealias StepPlanner = @Sendable (Build, RepositoryConfig) -> [any BuildStep]

    let store: any BuildLeaseStore & BuildRecordStore
    let config: LiveConfig
    let planSteps: StepPlanner
    let processes: ProcessRunner
    let logger: Logger
    let toolEnvironment: [String: String]
    let followers: LogFollowers?
    let sandboxHost: SandboxHost
    /// PostgreSQL: build logs are copied here, for every replica to read.
    let logArchive: (any BuildLogArchive)?

    public init(
        store: any BuildLeaseStore & BuildRecordStore, config: LiveConfig, processes: ProcessRunner = ProcessRunner(),
        toolEnvironment: [String: String] = ToolEnvironment.fromProcess(), sandboxHost: SandboxHost = .fromProcess(),
        followers: LogFollowers? = nil, logArchive: (any BuildLogArchive)? = nil, logger: Logger,
        planSteps: @escaping StepPlanner
    ) {
        self.logArchive = logArchive
        self.sandboxHost = sandboxHost
        self.followers = followers
        self.toolEnvironment = toolEnvironment
        self.store = store
        self.config = config
        self.processes = processes
        self.logger = logger
        self.planSteps = planSteps
    }

    public static func logPath(stateDirectory: String, buildID: Int64) -> String {
        "\(stateDirectory)/logs/\(buildID).log"
    }

    public static func workspacePath(stateDirectory: String, buildID: Int64) -> String {
        "\(stateDirectory)/workspaces/\(buildID)"
    }

    /// The absolute state directory, which tells this daemon's build processes apart.
    public static func instance(stateDirectory: String) -> String {
        URL(fileURLWithPath: stateDirectory).standardizedFileURL.path
    }

    /// Runs `build` to its end and records it; returns what is left to clean up (the
    /// caller runs it, apart from the build's cancellation). `stopReason` tells, after a
    /// cancellation, why.
    public func run(_ build: Build, stopReason: @Sendable () -> StopReason?) async -> BuildCleanUp {
        var logger = self.logger
        logger[metadataKey: "build"] = "\(build.id)"
        logger[metadataKey: "repo"] = "\(build.repository)"
        if let delivery = build.deliveryID { logger[metadataKey: "delivery"] = "\(delivery)" }
        let snapshot = config.snapshot
        let started = ContinuousClock.now

        let log: BuildLog
        do {
            log = try BuildLog(
                path: Self.logPath(stateDirectory: snapshot.config.stateDirectory, buildID: build.id),
                masker: SecretMasker(secrets: snapshot.secretValues),
                archive: logArchive.map { LogArchiveWriter(archive: $0, buildID: build.id, fence: build.fence, logger: logger) },
                onChange: { [followers] event in followers?.publish(build.id, event) })
        } catch {
            logger.error("cannot open the build log", metadata: ["error": "\(error)"])
            await finish(build, .error, reason: "cannot open the build log: \(error)", logger: logger)
            return .nothing
        }
        defer { log.close() }
        log.header(
            "build #\(build.id) of \(build.repository) \(build.ref) at \(build.sha) (attempt \(build.attempts), trigger \(build.trigger.rawValue))"
        )
        guard let repository = snapshot.config.repository(named: build.repository) else {
            log.line("repository \(build.repository) is no longer configured")
            await log.settle()
            await finish(build, .error, reason: "repository \(build.repository) is no longer configured", logger: logger)
            return .nothing
        }
        logger.info("build started", metadata: ["sha": "\(build.sha)", "ref": "\(build.ref)", "attempt": "\(build.attempts)"])

        let workspace = Self.workspacePath(stateDirectory: snapshot.config.stateDirectory, buildID: build.id)
        do {
            try? FileManager.default.removeItem(atPath: workspace)
            try FileManager.default.createDirectory(
                atPath: workspace + "/tmp", withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        } catch {
            log.line("cannot create the workspace \(workspace): \(error)")
            await log.settle()
            await finish(build, .error, reason: "cannot create the workspace: \(error)", logger: logger)
            return .nothing
        }
        let context = StepContext(
            build: build, repository: repository, config: snapshot, workspace: workspace, log: log,
            processes: processes, store: store, deadline: started + repository.timeout,
            instance: Self.instance(stateDirectory: snapshot.config.stateDirectory),
            toolEnvironment: toolEnvironment, sandboxHost: sandboxHost)

        var finalState = BuildState.success
        var reason: String?
        var statusSummary: String?
        var ran: [any BuildStep] = []
        for step in planSteps(build, repository) {
            ran.append(step)
            let outcome = await runStep(step, context, logger: logger)
            if case .canceled = outcome {
                if let state = await stop(build, reason: stopReason(), log: log, logger: logger) {
                    Self.recordDuration(ContinuousClock.now - started, repository: build.repository, state: state)
                }
                return BuildCleanUp(steps: ran, context: context)
            }
            switch outcome {
            case .success, .skipped, .canceled: continue
            case .failure(let failure):
                finalState = .failure
                reason = failure.detail
                statusSummary = failure.summary
            case .error(let detail):
                finalState = .error
                reason = detail
            }
            break
        }
        let elapsed = ContinuousClock.now - started
        log.header("build \(finalState.rawValue) after \(DurationText.elapsed(elapsed))\(reason.map { ": \($0)" } ?? "")")
        await log.settle()
        await finish(build, finalState, reason: reason, statusSummary: statusSummary, logger: logger)
        Self.recordDuration(elapsed, repository: build.repository, state: finalState)
        return BuildCleanUp(steps: ran, context: context)
    }

    /// `slipway_build_duration_seconds{repository, state}`: one observation per attempt
    /// that ran its steps (a checkpointed attempt is recorded as `queued`).
    private static func recordDuration(_ elapsed: Duration, repository: String, state: BuildState) {
        Timer(label: "slipway_build_duration_seconds", dimensions: [("repository", repository), ("state", state.rawValue)])
            .record(duration: elapsed)
    }

    private func runStep(_ step: any BuildStep, _ buildContext: StepContext, logger: Logger) async -> StepOutcome {
        var context = buildContext
        if let limit = context.repository.stepTimeouts[step.name] {
            context.stepDeadline = min(context.deadline, .now + limit)
        }
        let buildID = context.build.id
        let attempt = context.build.attempts
        let fence = context.build.fence
        do {
            let name = step.name
            try await StoreRetry.untilStored("step \(name) start", logger: logger) { [store] in
                try await store.recordStepStart(buildID: buildID, attempt: attempt, name: name, fence: fence)
            }
        } catch is CancellationError {
            return .canceled
        } catch {
            logger.error("cannot record the step start", metadata: ["step": "\(step.name)", "error": "\(error)"])
            return .error(detail: "cannot record step \(step.name): \(error)")
        }
        context.log.header("step \(step.name)")
        let begin = ContinuousClock.now
        var outcome: StepOutcome
        do {
            try Task.checkCancellation()
            outcome = try await step.run(context)
        } catch is CancellationError {
            outcome = .canceled
        } catch {
            outcome = .error(detail: "\(step.name): \(error)")
        }
        if Task.isCancelled { outcome = .canceled }
        let elapsed = ContinuousClock.now - begin
        let took = DurationText.elapsed(elapsed)
        let ended = outcome.state.rawValue
        Timer(label: "slipway_step_duration_seconds", dimensions: [("step", step.name), ("outcome", ended)])
            .record(duration: elapsed)
        context.log.header("step \(step.name) \(ended) after \(took)")
        logger.info("step finished", metadata: ["step": "\(step.name)", "outcome": "\(ended)", "duration": "\(took)"])
        do {
            let finalOutcome = outcome
            try await StoreRetry.untilStored("step \(step.name) end", logger: logger) { [store] in
                try await store.recordStepEnd(buildID: buildID, attempt: attempt, name: step.name, outcome: finalOutcome, fence: fence)
            }
        } catch {
            logger.error("cannot record the step end", metadata: ["step": "\(step.name)", "error": "\(error)"])
        }
        return outcome
    }

    /// Records why the build stopped early; returns the state it goes to, or nil when this
    /// replica may record nothing (it lost the build).
    private func stop(_ build: Build, reason: StopReason?, log: BuildLog, logger: Logger) async -> BuildState? {
        let event: BuildEvent
        let text: String
        let state: BuildState
        switch reason ?? .canceled(by: "unknown") {
        case .leaseLost:
            log.header("this replica lost the build's lease; another replica runs it again, and nothing more is written here")
            logger.warning("build lost to another replica: its processes were stopped", metadata: ["attempt": "\(build.attempts)"])
            return nil
        case .canceledElsewhere(let who):
            log.header("build canceled by \(who) (through another replica)")
            logger.notice("build stopped", metadata: ["why": "canceled by \(who) through another replica"])
            return .canceled
        case .canceled(let who):
            (event, state) = (.cancel, .canceled)
            text = "canceled by \(who)"
        case .superseded(let newer):
            (event, state) = (.supersede, .superseded)
            text = "superseded by build #\(newer)"
        case .checkpoint:
            (event, state) = (.checkpoint, .queued)
            text = "stopped by daemon shutdown; queued again"
        }
        log.header("build \(text)")
        logger.notice("build stopped", metadata: ["why": "\(text)"])
        await log.settle()
        await apply(build, event, reason: text, logger: logger)
        return state
    }

    private func finish(_ build: Build, _ state: BuildState, reason: String?, statusSummary: String? = nil, logger: Logger) async {
        logger.info("build finished", metadata: ["state": "\(state.rawValue)"])
        await apply(build, .finish(state), reason: reason, statusSummary: statusSummary, logger: logger)
    }

    private func apply(_ build: Build, _ event: BuildEvent, reason: String?, statusSummary: String? = nil, logger: Logger) async {
        do {
            _ = try await StoreRetry.untilStored("build end", logger: logger) { [store] in
                try await store.transition(build.id, event, reason: reason, statusSummary: statusSummary, fence: build.fence)
            }
        } catch let lost as StaleAttempt {
            logger.notice("build lost to another replica; nothing more is written for this attempt", metadata: ["reason": "\(lost)"])
        } catch {
            // Canceled while retrying (shutdown): the next start recovers the build.
            logger.error("cannot record the build's end", metadata: ["error": "\(error)"])
        }
    }
}

/// What is left after a build, whatever its end: each step's own clean-up (local images,
/// containers), newest step first, then the scratch directory with its one-off
/// credential files. `BuildQueue` runs it apart from the build and waits for it at shutdown.
public struct BuildCleanUp: Sendable {
    let steps: [any BuildStep]
    let context: StepContext?

    static let nothing = BuildCleanUp(steps: [], context: nil)

    public func run() async {
        guard let context else { return }
        for step in steps.reversed() { await step.cleanUp(context) }
        try? FileManager.default.removeItem(atPath: context.scratchDirectory)
    }
}
