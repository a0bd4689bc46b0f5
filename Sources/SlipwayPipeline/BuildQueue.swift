import Logging
import ServiceLifecycle
import SlipwayCore
import SlipwayStore
import Synchronization

/// Starts stored builds on the Dispatch work queue, `queue.workers` at a time.
///
/// The store is the queue: builds are claimed from it in a transaction (QueuePolicy
/// decides which), so a crash loses nothing that was acknowledged. `wake()` is a hint
/// that something changed; the queue also re-checks after every finished build.
///
/// Shutdown (graceful): stop claiming, wait up to `queue.shutdown_grace` for running
/// builds, then cancel the rest and put them back to `queued` (checkpoint).
public final class BuildQueue: Service, Sendable {
    private let store: any BuildStore
    private let config: LiveConfig
    private let runner: BuildRunner
    private let executor = DispatchTaskExecutor(label: "slipway.builds")
    private let logger: Logger
    private let wakeups: AsyncStream<Void>
    private let wakeupContinuation: AsyncStream<Void>.Continuation
    private let state = Mutex(State())

    private struct State {
        var running: [Int64: RunningBuild] = [:]
        var accepting = false
    }

    private struct RunningBuild {
        let task: Task<Void, Never>
        let lane: String
        var stopReason: StopReason?
    }

    public init(store: any BuildStore, config: LiveConfig, runner: BuildRunner, logger: Logger) {
        self.store = store
        self.config = config
        self.runner = runner
        self.logger = logger
        (wakeups, wakeupContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Something may be runnable now (a build was stored or finished).
    public func wake() { wakeupContinuation.yield() }

    /// True once start-up recovery is done and until shutdown begins (for /readyz).
    public var isAccepting: Bool { state.withLock { $0.accepting } }

    public var runningBuildIDs: [Int64] { state.withLock { Array($0.running.keys).sorted() } }

    /// Stops a running build; returns false when it is not running here.
    @discardableResult
    public func stop(_ buildID: Int64, reason: StopReason) -> Bool {
        let task: Task<Void, Never>? = state.withLock { state in
            guard state.running[buildID] != nil else { return nil }
            state.running[buildID]?.stopReason = reason
            return state.running[buildID]?.task
        }
        task?.cancel()
        return task != nil
    }

    /// A newer push to a branch stops its older running builds when `cancel_superseded`
    /// is set; the same rule (QueuePolicy) the store applies to queued builds.
    public func supersedeRunning(by request: BuildRequest, newID: Int64) {
        let enabled = config.snapshot.config.queue.cancelSuperseded
        let running = state.withLock { state in
            state.running.map { (id: $0.key, lane: $0.value.lane, state: BuildState.running) }
        }
        for id in QueuePolicy.superseded(by: request, newID: newID, active: running, enabled: enabled) {
            stop(id, reason: .superseded(by: newID))
        }
    }

    public func run() async throws {
        let recovered = try await store.recoverInterrupted()
        let instance = BuildRunner.instance(stateDirectory: config.snapshot.config.stateDirectory)
        let reaped = OrphanReaper.kill(buildIDs: Set(recovered.map(\.id)), instance: instance)
        if reaped > 0 { logger.warning("killed processes left by interrupted builds", metadata: ["processes": "\(reaped)"]) }
        for build in recovered {
            logger.warning("build was running when the daemon stopped", metadata: [
                "build": "\(build.id)", "repo": "\(build.repository)", "state": "\(build.state.rawValue)"])
        }
        state.withLock { $0.accepting = true }
        wake()
        for await _ in wakeups.cancelOnGracefulShutdown() {
            await startRunnableBuilds()
        }
        state.withLock { $0.accepting = false }
        await drain()
    }

    private func startRunnableBuilds() async {
        let free = config.snapshot.config.queue.workers - state.withLock { $0.running.count }
        guard free > 0 else { return }
        let claimed: [Build]
        do {
            claimed = try await store.claimRunnable(freeWorkers: free)
        } catch {
            logger.error("cannot claim queued builds", metadata: ["error": "\(error)"])
            return
        }
        for build in claimed { start(build) }
    }

    private func start(_ build: Build) {
        // The build's task is created inside the lock so it is registered before it can
        // finish and remove itself.
        state.withLock { state in
            let task = Task(executorPreference: executor) { [self] in
                await runner.run(build) { [self] in self.state.withLock { $0.running[build.id]?.stopReason } }
                self.state.withLock { _ = $0.running.removeValue(forKey: build.id) }
                let settings = config.snapshot.config
                WorkspacePruner.prune(stateDirectory: settings.stateDirectory, keep: settings.queue.keepWorkspaces,
                                      running: Set(runningBuildIDs))
                wake()
            }
            state.running[build.id] = RunningBuild(task: task, lane: build.lane)
        }
    }

    private func drain() async {
        let grace = config.snapshot.config.queue.shutdownGrace
        let tasks = state.withLock { $0.running.values.map(\.task) }
        guard !tasks.isEmpty else { return }
        logger.notice("waiting for running builds before exit", metadata: [
            "builds": "\(runningBuildIDs)", "grace": "\(DurationText.format(grace))"])
        // Awaiting a task's value ignores cancellation, so the grace period is watched by
        // polling the running set (finished builds remove themselves) rather than by a race.
        let deadline = ContinuousClock.now + grace
        while !runningBuildIDs.isEmpty, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        let finishedInTime = runningBuildIDs.isEmpty
        if !finishedInTime {
            for id in runningBuildIDs { stop(id, reason: .checkpoint) }
            for task in tasks { await task.value }
        }
    }
}
