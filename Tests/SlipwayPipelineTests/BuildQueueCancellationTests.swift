import Foundation
import Logging
import SlipwayCore
import SlipwayStore
import SlipwayTesting
import Synchronization
import Testing

@testable import SlipwayPipeline

/// The build queue in-process, with the real SQLite store and real child processes:
/// what an operator's cancel (and a newer push) does to a running build.
@Suite struct BuildQueueCancellationTests {
    struct Rig {
        let directory: URL
        let store: SQLiteBuildStore
        let queue: BuildQueue
        let intake: BuildIntake
        let instance: String
    }

    /// A queue whose builds run `argv` as their one step.
    /// `sync`: how the store's log is synced (`SyncGate`); nil: fdatasync.
    func withQueue(_ argv: [String], sync: (@Sendable (Int32) -> Int32)? = nil, _ body: (Rig) async throws -> Void) async throws {
        let directory = try TestPaths.temporaryDirectory("queue")
        defer { TestPaths.removeTemporaryDirectory(directory) }
        let state = directory.appendingPathComponent("state").path
        let parts = try QueueParts(stateDirectory: state, queueSettings: "{workers: 2, cancel_superseded: true}", sync: sync) { _, _ in
            [CommandStep(name: "test", argv: argv)]
        }
        let (store, queue) = (parts.store, parts.queue)
        let running = Task { try await queue.run() }
        let rig = Rig(
            directory: directory, store: store, queue: queue, intake: parts.intake, instance: BuildRunner.instance(stateDirectory: state))
        // The queue is stopped, and its builds with it, before the directory is removed
        // (a queue left running would write into it again).
        var failure: (any Error)?
        do {
            try await body(rig)
        } catch {
            failure = error
        }
        running.cancel()
        _ = try? await running.value
        if let failure { throw failure }
    }

    /// A push, through the intake: it stores the build, supersedes the older ones of its
    /// branch (queued and running) and wakes the queue.
    func enqueue(_ rig: Rig, ref: String = "refs/heads/main") async throws -> Build {
        try await rig.intake.request(
            BuildRequest(
                repository: "acme/app", ref: ref, sha: CommitID(String(repeating: "a", count: 40))!,
                cloneURL: nil, trigger: .push, deliveryID: nil))
    }

    func waitFor(_ rig: Rig, _ id: Int64, _ state: BuildState, timeout: Duration = .seconds(90)) async throws -> Build {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let build = try await rig.store.build(id: id), build.state == state { return build }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError("build \(id) did not reach \(state): \(String(describing: try await rig.store.build(id: id)))")
    }

    /// Processes of build `id` (only `sh` and `sleep` are looked at: reading another
    /// process's environ can stall while it is busy, e.g. a buildah copying layers).
    func leftovers(_ rig: Rig, _ id: Int64) -> Int {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.compactMap(Int32.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                stat.contains("(sh)") || stat.contains("(sleep)"),
                let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ")
            else { return false }
            let variables = Set(environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
            return variables.isSuperset(of: ["SLIPWAY_INSTANCE=\(rig.instance)", "SLIPWAY_BUILD_ID=\(id)"])
        }.count
    }

    @Test func cancellingARunningBuildEndsItsWholeProcessGroup() async throws {
        // A step that ignores SIGTERM and leaves a background child: SIGKILL must follow.
        try await withQueue(["sh", "-c", "trap '' TERM; sleep 300 & sleep 300"]) { rig in
            let build = try await enqueue(rig)
            _ = try await waitFor(rig, build.id, .running)
            // Running is recorded at claim time; wait for the step's processes themselves.
            let started = ContinuousClock.now + .seconds(60)   // loose: the whole parallel suite shares two cores
            while leftovers(rig, build.id) < 2, ContinuousClock.now < started { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(100))
            #expect(leftovers(rig, build.id) >= 2)
            let asked = ContinuousClock.now
            #expect(rig.queue.stop(build.id, reason: .canceled(by: "test")))
            let canceled = try await waitFor(rig, build.id, .canceled)
            let took = ContinuousClock.now - asked
            // SIGTERM is ignored here, so SIGKILL follows after the 1 s grace. No upper bound
            // here: this test shares its process with the whole parallel suite on two cores
            // (the daemon-level timeout test measures how soon a kill lands).
            #expect(took >= .seconds(1), "cancel took \(took)")
            print("cancel of a step ignoring SIGTERM took \(took)")
            #expect(canceled.reason == "canceled by test")
            #expect(leftovers(rig, build.id) == 0)
            let steps = try await rig.store.steps(buildID: build.id)
            #expect(steps.first?.state == .canceled)
        }
    }

    @Test func aNewerPushSupersedesTheRunningBuildOfItsBranch() async throws {
        try await withQueue(["sleep", "300"]) { rig in
            let first = try await enqueue(rig)
            _ = try await waitFor(rig, first.id, .running)
            let other = try await enqueue(rig, ref: "refs/heads/dev")
            let second = try await enqueue(rig)
            let superseded = try await waitFor(rig, first.id, .superseded)
            #expect(superseded.reason == "superseded by build #\(second.id)")
            _ = try await waitFor(rig, second.id, .running)
            #expect(try await rig.store.build(id: other.id)?.state == .running, "another branch is left alone")
            #expect(leftovers(rig, first.id) == 0)
            rig.queue.stop(second.id, reason: .canceled(by: "test"))
            rig.queue.stop(other.id, reason: .canceled(by: "test"))
            _ = try await waitFor(rig, second.id, .canceled)
            _ = try await waitFor(rig, other.id, .canceled)
        }
    }

    @Test func aStormOfPushesBuildsItsNewestCommitOnceItPauses() async throws {
        try await withQueue(["sleep", "300"]) { rig in
            let first = try await enqueue(rig)
            _ = try await waitFor(rig, first.id, .running)
            // 15 pushes 0.1 s apart: the first stops the running build; the lane then
            // waits for a pause, so none of the others starts (each would have been killed
            // by the next push).
            var latest = first
            var pushedAt: [ContinuousClock.Instant] = []
            for _ in 0..<15 {
                latest = try await enqueue(rig)
                pushedAt.append(.now)
                try await Task.sleep(for: .milliseconds(100))
            }
            _ = try await waitFor(rig, first.id, .superseded)
            _ = try await waitFor(rig, latest.id, .running)
            // A build may start only after a pause of 0.5 s in the pushes. On a loaded
            // machine a push can come late, so the pauses that did happen are counted.
            let pauses = zip(pushedAt, pushedAt.dropFirst()).filter { $1 - $0 >= .milliseconds(450) }.count
            let all = try await rig.store.builds(BuildFilter(limit: 100))
            let started = all.filter { $0.startedAt != nil }.map(\.id).sorted()
            #expect(started.first == first.id && started.last == latest.id)
            #expect(started.count <= 2 + pauses, "builds started: \(started); pauses in the pushes: \(pauses)")
            #expect(all.filter { !started.contains($0.id) }.allSatisfy { $0.state == .superseded })
            rig.queue.stop(latest.id, reason: .canceled(by: "test"))
            _ = try await waitFor(rig, latest.id, .canceled)
        }
    }

    /// With the store's log sync held: a push of `main` stored (its write waits for the
    /// sync) and claimed by the queue, `running` in the store (committed, not yet
    /// durable) and not started here yet. The caller releases the sync.
    func claimedWhileSyncHeld(_ rig: Rig, sha: Character) async throws -> (BuildRequest, Task<Build, any Error>, Build) {
        let request = BuildRequest(
            repository: "acme/app", ref: "refs/heads/main", sha: CommitID(String(repeating: sha, count: 40))!,
            cloneURL: nil, trigger: .push, deliveryID: nil)
        let enqueued = Task { try await rig.store.enqueue(request, supersedeOlder: true) }
        let deadline = ContinuousClock.now + .seconds(60)
        var seen: Build?
        while seen?.state != .running, ContinuousClock.now < deadline {
            rig.queue.wake()
            seen = try await rig.store.builds(BuildFilter(limit: 10)).first
            try await Task.sleep(for: .milliseconds(20))
        }
        let claimed = try #require(seen)
        try #require(claimed.state == .running, "claimed (committed, not yet durable) while the sync is held")
        #expect(rig.queue.runningBuildIDs.isEmpty, "not started yet")
        return (request, enqueued, claimed)
    }

    /// A claim's build is `running` to readers (the API) a moment before the claim
    /// returns and the build starts: the claim's commit is visible before it is durable.
    /// A cancel in that moment is kept and applied as the build starts; its command never
    /// runs. The moment is held open here by holding the store's log sync.
    @Test func aCancelWhileTheBuildIsBeingClaimedStopsItAsItStarts() async throws {
        let gate = SyncGate()
        try await withQueue(["sleep", "300"], sync: gate.sync) { rig in
            // Start-up recovery (a write) is done before the sync is held.
            let started = ContinuousClock.now + .seconds(60)
            while !rig.queue.isAccepting, ContinuousClock.now < started { try await Task.sleep(for: .milliseconds(10)) }
            gate.hold()
            defer { gate.release() }   // whatever fails below, nothing stays blocked on the sync
            let (_, enqueued, build) = try await claimedWhileSyncHeld(rig, sha: "b")

            // The cancel is answered while the sync is still held (the stop is kept for the
            // build's start); the sync is let go after 5 s in any case, so that a queue that
            // waits for the store instead fails this test rather than hanging it.
            let answered = Answered()
            let cancel = Task {
                defer { answered.mark() }
                return try await rig.queue.cancel(build, by: "test")
            }
            let patience = ContinuousClock.now + .seconds(5)
            while !answered.done, ContinuousClock.now < patience { try await Task.sleep(for: .milliseconds(10)) }
            #expect(answered.done, "the cancel waited for the claim's sync")
            gate.release()
            #expect(try await cancel.value == .stopping)
            _ = try await enqueued.value
            let ended = try await waitFor(rig, build.id, .canceled, timeout: .seconds(60))
            #expect(ended.reason == "canceled by test")
            try await Task.sleep(for: .milliseconds(300))
            #expect(leftovers(rig, build.id) == 0, "its command did not run on")
        }
    }

    /// The same moment for a newer push of the branch: the claimed build is `running` in
    /// the store (so the push's transaction does not supersede it) and not running here
    /// yet (so the queue found nothing to stop). It is stopped as it starts, superseded.
    /// Under a loaded full suite this once left a storm's newest build waiting 90 s behind
    /// an older one that ran on.
    @Test func aPushWhileAnOlderBuildIsBeingClaimedSupersedesItAsItStarts() async throws {
        let gate = SyncGate()
        try await withQueue(["sleep", "300"], sync: gate.sync) { rig in
            let started = ContinuousClock.now + .seconds(60)
            while !rig.queue.isAccepting, ContinuousClock.now < started { try await Task.sleep(for: .milliseconds(10)) }
            gate.hold()
            defer { gate.release() }
            let (request, enqueued, claimed) = try await claimedWhileSyncHeld(rig, sha: "c")
            // What the intake does once a newer push of the branch is stored.
            var newer = request
            newer.sha = CommitID(String(repeating: "d", count: 40))!
            rig.queue.supersedeRunning(by: newer, newID: claimed.id + 1)
            gate.release()
            _ = try await enqueued.value
            let ended = try await waitFor(rig, claimed.id, .superseded, timeout: .seconds(60))
            #expect(ended.reason == "superseded by build #\(claimed.id + 1)")
            try await Task.sleep(for: .milliseconds(300))
            #expect(leftovers(rig, claimed.id) == 0, "its command did not run on")
        }
    }

    @Test func workspacesBeyondTheNewestAreRemoved() throws {
        let directory = try TestPaths.temporaryDirectory("prune")
        defer { TestPaths.removeTemporaryDirectory(directory) }
        for id in 1...6 {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent("workspaces/\(id)"), withIntermediateDirectories: true)
        }
        let removed = WorkspacePruner.prune(stateDirectory: directory.path, keep: 2, running: [1])
        #expect(removed.sorted() == [2, 3, 4])
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("workspaces").path)
        #expect(Set(left) == ["1", "5", "6"])
    }
}

/// Whether a call has returned.
private final class Answered: Sendable {
    private let flag = Mutex(false)
    var done: Bool { flag.withLock { $0 } }
    func mark() { flag.withLock { $0 = true } }
}
