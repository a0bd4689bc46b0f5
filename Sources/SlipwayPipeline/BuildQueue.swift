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
        /// Lanes whose running build a newer push stopped, waiting for their pushes to pause.
        var settling = LaneSettling()
        var releaseWakeArmed = false
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

    /// A build was stored in `lane`. When that lane is busy here (a build of it runs, or
    /// it waits for its pushes to pause) the new build cannot start, and nothing else
    /// changed: the queue is not woken, and the store not asked. Whatever frees the lane
    /// wakes the queue itself (a build that ends, the settling timer).
    public func wake(forNewBuildIn lane: String) {
        let now = Self.monotonicSeconds()
        let busy = state.withLock { state in
            state.settling.holds(lane, at: now) || state.running.values.contains { $0.lane == lane }
        }
        if !busy { wake() }
    }

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
        let now = Self.monotonicSeconds()
        let running = state.withLock { state in
            state.settling.pushed(lane: request.lane, at: now)
            return state.running.map { (id: $0.key, lane: $0.value.lane, state: BuildState.running) }
        }
        let stopped = QueuePolicy.superseded(by: request, newID: newID, active: running, enabled: enabled)
            .filter { stop($0, reason: .superseded(by: newID)) }
        guard !stopped.isEmpty else { return }
        let began = state.withLock { state in
            let wasHeld = state.settling.holds(request.lane, at: now)
            state.settling.runningBuildStopped(lane: request.lane, at: now)
            return !wasHeld
        }
        if began {
            logger.notice("pushes arrive faster than builds run: the branch's next build waits for a pause in its pushes", metadata: [
                "repo": "\(request.repository)", "ref": "\(request.ref)", "stopped": "\(stopped)",
                "pause": "\(DurationText.format(.seconds(LaneSettling.quiet)))",
                "at_most": "\(DurationText.format(.seconds(LaneSettling.longest)))"])
        }
    }

    /// Seconds on a monotonic clock, for LaneSettling.
    private static func monotonicSeconds() -> Double { (ContinuousClock.now - clockOrigin).inSeconds }

    private static let clockOrigin = ContinuousClock.now

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
        let now = Self.monotonicSeconds()
        let held = state.withLock { $0.settling.held(at: now) }
        defer { if !held.isEmpty { wakeWhenALaneSettles(now: now) } }
        let claimed: [Build]
        do {
            claimed = try await store.claimRunnable(freeWorkers: free, heldLanes: held)
        } catch {
            // The store may come back (space freed) with nobody to wake the queue: look again soon.
            logger.error("cannot claim queued builds; trying again in 2 s", metadata: ["error": "\(error)"])
            Task { [self] in
                try? await Task.sleep(for: .seconds(2))
                wake()
            }
            return
        }
        for build in claimed { start(build) }
    }

    /// One timer at a time, to look again when the first held lane may be let go.
    private func wakeWhenALaneSettles(now: Double) {
        let release: Double? = state.withLock { state in
            guard !state.releaseWakeArmed, let next = state.settling.nextRelease else { return nil }
            state.releaseWakeArmed = true
            return next
        }
        guard let release else { return }
        Task { [self] in
            try? await Task.sleep(for: .seconds(max(0, release - now)))
            state.withLock { $0.releaseWakeArmed = false }
            wake()
        }
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
