import Logging
import ServiceLifecycle
import SlipwayCore
import SlipwayStore
import Synchronization

/// Starts stored builds on the Dispatch work queue, `queue.workers` at a time.
///
/// The store is the queue: builds are claimed from it in a transaction (QueuePolicy
/// decides which), so a crash loses nothing that was acknowledged. `wake()` is a hint
/// that something changed; the queue also re-checks after every finished build, and at
/// the one time it set itself (a held lane's release, a retry after a failed claim).
/// Builds are only ever stored through `BuildIntake`, which wakes the queue.
///
/// Owned work: each running build's task, and each finished build's clean-up (its local
/// images, its scratch files), are kept here and waited for at shutdown.
///
/// Shutdown (graceful): stop claiming, wait up to `queue.shutdown_grace` for running
/// builds, then cancel the rest and put them back to `queued` (checkpoint); then wait for
/// clean-ups within what is left of the grace.
public final class BuildQueue: Service, Sendable {
    private let store: any BuildLeaseStore
    private let config: LiveConfig
    private let runner: BuildRunner
    /// Replicas sharing the store (PostgreSQL): a cancel reaches the one running the build.
    private let replicas: (any ReplicaEvents)?
    private let executor = DispatchTaskExecutor(label: "slipway.builds")
    private let logger: Logger
    /// Something may be runnable: a build stored, a build ended, a timer due.
    private let wakeups = WakeSignal()
    /// A build or a clean-up ended (for the drain at shutdown).
    private let ended = WakeSignal()
    private let state = Mutex(State())

    private struct State {
        var running: [Int64: RunningBuild] = [:]
        var cleanUps: [Int64: Task<Void, Never>] = [:]
        var accepting = false
        var stopping = false
        /// Lanes whose running build a newer push stopped, waiting for their pushes to pause.
        var settling = LaneSettling()
        /// When to look again although nobody wakes the queue (monotonic seconds).
        var lookAgainAt: Double?
        /// A claim is under way: its builds are `running` in the store (readers see them)
        /// before the claim returns and they are started here.
        var claiming = false
        /// Stops asked for while a claim was under way, of builds not started here yet:
        /// applied as the claimed build starts.
        var stopsOnStart: [Int64: StopReason] = [:]
        /// Pushes stored while a claim was under way, newest build id per lane: an older
        /// build of the lane that the claim took (running in the store, so not superseded
        /// there, and not running here yet) is stopped as it starts.
        var pushesDuringClaim: [String: Int64] = [:]
    }

    private struct RunningBuild {
        let task: Task<Void, Never>
        let lane: String
        var stopReason: StopReason?
    }

    public init(
        store: any BuildLeaseStore, config: LiveConfig, runner: BuildRunner, replicas: (any ReplicaEvents)? = nil, logger: Logger
    ) {
        self.store = store
        self.config = config
        self.runner = runner
        self.replicas = replicas
        self.logger = logger
    }

    /// Something may be runnable now (a build was stored or finished).
    public func wake() { wakeups.signal() }

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
    ///
    /// A claim's builds are `running` in the store (and to readers, such as the API) a
    /// moment before the claim returns and they start here: the claim's commit is
    /// visible before it is durable, and only then does the store return. A stop asked
    /// for in that moment is kept and applied as the build starts, so an operator who
    /// saw `running` and canceled is never ignored.
    @discardableResult
    public func stop(_ buildID: Int64, reason: StopReason) -> Bool {
        let (task, kept): (Task<Void, Never>?, Bool) = state.withLock { state in
            guard state.running[buildID] != nil else {
                guard state.claiming else { return (nil, false) }
                state.stopsOnStart[buildID] = reason
                return (nil, true)
            }
            state.running[buildID]?.stopReason = reason
            return (state.running[buildID]?.task, false)
        }
        task?.cancel()
        return task != nil || kept
    }

    public enum CancelResult: Sendable, Equatable {
        /// It runs here: stopped; its end is recorded when its step has stopped.
        case stopping
        /// It was queued (or running on no worker): canceled now.
        case canceled
        /// It has ended already, in this state.
        case alreadyEnded(BuildState)
    }

    /// An operator's cancel: a running build is stopped, a queued one canceled in the store.
    /// A build running on another replica is canceled in the store, and that replica told
    /// to stop its processes.
    public func cancel(_ build: Build, by who: String) async throws -> CancelResult {
        guard !build.state.isTerminal else { return .alreadyEnded(build.state) }
        if build.state == .running, stop(build.id, reason: .canceled(by: who)) { return .stopping }
        do {
            guard let canceled = try await store.transition(build.id, .cancel, reason: "canceled by \(who)") else {
                return .alreadyEnded(build.state)
            }
            if canceled.state == .canceled, build.state == .running, let replicas {
                await replicas.announce(.canceled(buildID: build.id, by: who))
            }
            return canceled.state == .canceled ? .canceled : .alreadyEnded(canceled.state)
        } catch let refused as InvalidTransition {
            return .alreadyEnded(refused.from)
        }
    }

    /// A newer push to a branch stops its older running builds when `cancel_superseded`
    /// is set; the same rule (QueuePolicy) the store applies to queued builds.
    func supersedeRunning(by request: BuildRequest, newID: Int64) {
        let enabled = config.snapshot.config.queue.cancelSuperseded
        guard QueuePolicy.maySupersede(request, enabled: enabled) else { return }
        let now = Self.monotonicSeconds()
        let running = state.withLock { state in
            state.settling.pushed(lane: request.lane, at: now)
            if state.claiming { state.pushesDuringClaim[request.lane] = max(state.pushesDuringClaim[request.lane] ?? newID, newID) }
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
            logger.notice(
                "pushes arrive faster than builds run: the branch's next build waits for a pause in its pushes",
                metadata: [
                    "repo": "\(request.repository)", "ref": "\(request.ref)", "stopped": "\(stopped)",
                    "pause": "\(DurationText.format(.seconds(LaneSettling.quiet)))",
                    "at_most": "\(DurationText.format(.seconds(LaneSettling.longest)))",
                ])
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
            logger.warning(
                "build was running when the daemon stopped",
                metadata: [
                    "build": "\(build.id)", "repo": "\(build.repository)", "state": "\(build.state.rawValue)",
                ])
        }
        state.withLock { $0.accepting = true }
        // Claims are not cancelled half-way: shutdown only ends the loop between them.
        await withGracefulShutdownHandler {
            while !state.withLock({ $0.stopping }), !Task.isCancelled {
                await startRunnableBuilds()
                await wakeups.wait(timeout: timeUntilLookingAgain())
            }
        } onGracefulShutdown: { [self] in
            state.withLock { $0.stopping = true }
            wakeups.signal()
        }
        state.withLock { $0.accepting = false }
        await drain()
    }

    /// Until the time the queue set itself to look again, or nil (none set).
    private func timeUntilLookingAgain() -> Duration? {
        let now = Self.monotonicSeconds()
        return state.withLock { state in
            guard let at = state.lookAgainAt else { return nil }
            if at <= now { state.lookAgainAt = nil }
            return .seconds(max(0, at - now))
        }
    }

    /// Look again at `at` (monotonic seconds), unless an earlier look is set already.
    private func lookAgain(at: Double) {
        state.withLock { state in state.lookAgainAt = min(state.lookAgainAt ?? at, at) }
    }

    private func startRunnableBuilds() async {
        let free = config.snapshot.config.queue.workers - state.withLock { $0.running.count }
        guard free > 0 else { return }
        let now = Self.monotonicSeconds()
        let held = state.withLock { $0.settling.held(at: now) }
        if !held.isEmpty, let release = state.withLock({ $0.settling.nextRelease }) { lookAgain(at: release) }
        state.withLock { $0.claiming = true }
        let claimed: [Build]
        do {
            claimed = try await store.claimRunnable(freeWorkers: free, heldLanes: held)
        } catch {
            // The store may come back (space freed) with nobody to wake the queue: look again soon.
            logger.error("cannot claim queued builds; trying again in 2 s", metadata: ["error": "\(error)"])
            lookAgain(at: now + 2)
            claimed = []
        }
        for build in claimed { start(build) }
        let unclaimed = state.withLock { state in
            state.claiming = false
            state.pushesDuringClaim = [:]
            defer { state.stopsOnStart = [:] }
            return state.stopsOnStart
        }
        // Stopped in the claim's moment but not claimed by it: it ended meanwhile, or was
        // never claimed. An operator's cancel is then made in the store, as for a build
        // that runs nowhere (refused there when the build has ended).
        for (id, reason) in unclaimed {
            guard case .canceled(let who) = reason else { continue }
            _ = try? await store.transition(id, .cancel, reason: "canceled by \(who)")
        }
    }

    private func start(_ build: Build) {
        // The build's task is created inside the lock so it is registered before it can
        // finish and remove itself.
        state.withLock { state in
            let task = Task(executorPreference: executor) { [self] in
                let cleanUp = await runner.run(build) { [self] in self.state.withLock { $0.running[build.id]?.stopReason } }
                startCleanUp(cleanUp, of: build.id)
                self.state.withLock { _ = $0.running.removeValue(forKey: build.id) }
                let settings = config.snapshot.config
                WorkspacePruner.prune(
                    stateDirectory: settings.stateDirectory, keep: settings.queue.keepWorkspaces,
                    running: Set(runningBuildIDs))
                ended.signal()
                wake()
            }
            var stop = state.stopsOnStart.removeValue(forKey: build.id)
            if stop == nil, let newer = state.pushesDuringClaim[build.lane], newer > build.id {
                stop = .superseded(by: newer)
            }
            state.running[build.id] = RunningBuild(task: task, lane: build.lane, stopReason: stop)
            if stop != nil { task.cancel() }
        }
    }

    /// A finished build's clean-up runs on its own (the worker is free for the next
    /// build), kept here until it is done so that shutdown can wait for it.
    private func startCleanUp(_ cleanUp: BuildCleanUp, of buildID: Int64) {
        state.withLock { state in
            state.cleanUps[buildID] = Task(executorPreference: executor) { [self] in
                await cleanUp.run()
                self.state.withLock { _ = $0.cleanUps.removeValue(forKey: buildID) }
                ended.signal()
            }
        }
    }

    private func drain() async {
        let grace = config.snapshot.config.queue.shutdownGrace
        let deadline = ContinuousClock.now + grace
        if !runningBuildIDs.isEmpty {
            logger.notice(
                "waiting for running builds before exit",
                metadata: [
                    "builds": "\(runningBuildIDs)", "grace": "\(DurationText.format(grace))",
                ])
        }
        await waitOnEnded(while: { !runningBuildIDs.isEmpty }, until: deadline)
        let unfinished = state.withLock { $0.running.values.map(\.task) }
        if !unfinished.isEmpty {
            for id in runningBuildIDs { stop(id, reason: .checkpoint) }
            for task in unfinished { await task.value }
        }
        // Clean-ups (image removal) within what is left of the grace; one that is not
        // done by then is cut off by the exit, and said so.
        await waitOnEnded(while: { state.withLock { !$0.cleanUps.isEmpty } }, until: deadline)
        let cut = state.withLock { Array($0.cleanUps.keys).sorted() }
        if !cut.isEmpty {
            logger.warning(
                "clean-up of finished builds cut off by the exit: the shutdown grace is spent",
                metadata: [
                    "builds": "\(cut)"
                ])
        }
    }

    /// Waits while `pending()` holds, looking again at each build or clean-up that ends
    /// (no polling), until `deadline`. A cancelled task cannot wait: its grace is over.
    private func waitOnEnded(while pending: () -> Bool, until deadline: ContinuousClock.Instant) async {
        while pending(), ContinuousClock.now < deadline, !Task.isCancelled {
            await ended.wait(until: deadline)
        }
    }
}
