import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

/// Crashes, restarts, signals and the queue's order, with the real slipwayd process.
@Suite struct DaemonLifecycleTests {
    let secret = TestSecrets.repository

    /// A test step that takes a while and records each build id that ran to its end.
    static func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func sigkillWithBuildsQueuedLosesNoneAndRunsNoneTwice() async throws {
        // Each step waits for a GO file the test creates only after the restart, so no
        // step can finish before the kill however slow or loaded the machine is; steps
        // orphaned by the kill would see GO too, unless the restarted daemon kills them.
        let scratch = try TestPaths.temporaryDirectory("runs")
        defer { TestPaths.removeTemporaryDirectory(scratch) }
        let runs = scratch.appendingPathComponent("RUNS").path
        let go = scratch.appendingPathComponent("GO").path
        let step = ["sh", "-c", "while [ ! -e '\(go)' ]; do sleep 0.05; done; echo \"$SLIPWAY_BUILD_ID\" >> '\(runs)'"]
        _ = await blocking { TestRepository.shared }
        let daemon = try DaemonHarness(label: "sigkill", environment: TestSecrets.environment) { port, state in
            // The steps share files outside their workspaces with the test: unsandboxed.
            testConfig(port: port, stateDirectory: state, workers: 2, test: step, topLevelExtra: "sandbox: none")
        }
        defer { Task { await daemon.shutdown() } }
        try await daemon.start()
        var ids: [Int64] = []
        for index in 0..<6 {
            let reply = try await daemon.deliver(event: "push", payload: pushPayload(branch: "b\(index)"), secret: secret)
            #expect(reply.status == 202, "\(reply.text)")
            ids.append(try #require(daemon.buildID(of: reply)))
        }
        // Kill while two builds are inside their step and four wait.
        let store = try daemon.openStore()
        try await eventually(timeout: .seconds(60)) {
            let first = try await store.steps(buildID: ids[0]).contains { $0.name == "test" }
            let second = try await store.steps(buildID: ids[1]).contains { $0.name == "test" }
            return first && second
        }
        #expect(try await store.builds(.init(state: .running)).count == 2)
        #expect(try await daemon.stop(signal: SIGKILL) == SIGKILL)

        try await daemon.start()
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        for id in ids {
            let build = try await daemon.waitForEnd(of: id, timeout: .seconds(60))
            #expect(build.state == .success, "build \(id): \(build.state) \(build.reason ?? "")")
        }
        // Any orphaned step of the killed daemon would have written by now (it polls every 50 ms).
        try await Task.sleep(for: .seconds(1))
        let ran = Self.lines(runs)
        #expect(ran.sorted() == ids.map(String.init).sorted(), "each build ran exactly once: \(ran)")
        let interrupted = try await store.builds(.init(limit: 100)).filter { $0.attempts == 2 }
        #expect(interrupted.map(\.id).sorted() == [ids[0], ids[1]], "the two running builds were re-queued once")
        try await daemon.stop()
    }

    @Test func sigtermWaitsForRunningBuildsAndExitsZero() async throws {
        // The step waits for a GO file the test makes only once shutdown has begun, so the
        // build is still running at the SIGTERM however slowly a loaded machine runs the test.
        let scratch = try TestPaths.temporaryDirectory("runs")
        defer { TestPaths.removeTemporaryDirectory(scratch) }
        let runs = scratch.appendingPathComponent("RUNS").path, go = scratch.appendingPathComponent("GO").path
        let step = ["sh", "-c", "while [ ! -e '\(go)' ]; do sleep 0.05; done; echo \"$SLIPWAY_BUILD_ID\" >> '\(runs)'"]
        _ = await blocking { TestRepository.shared }
        let daemon = try DaemonHarness(label: "sigterm", environment: TestSecrets.environment) { port, state in
            // A long grace: the subject is that the build may finish, not how fast a loaded
            // machine lets it (a stress run once took more than 10 s from GO to its end).
            testConfig(port: port, stateDirectory: state, workers: 1, test: step, shutdownGrace: "120s", topLevelExtra: "sandbox: none")
        }
        defer { Task { await daemon.shutdown() } }
        try await daemon.start()
        let first = try #require(
            daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(branch: "one"), secret: secret)))
        let second = try #require(
            daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(branch: "two"), secret: secret)))
        let store = try daemon.openStore()
        try await eventually { try await store.build(id: first)?.state == .running }

        daemon.signal(SIGTERM)
        try await eventually { daemon.daemonLog().contains("waiting for running builds before exit") }
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        #expect(try await daemon.stop(signal: 0) == 0, "exit status once the running build has finished")
        #expect(try await store.build(id: first)?.state == .success, "the running build finished within the grace period")
        #expect(try await store.build(id: second)?.state == .queued, "a queued build stays queued for the next start")
        #expect(Self.lines(runs) == ["\(first)"])
        #expect(daemon.daemonLog().contains("stopped"))
    }

    @Test func sigtermCheckpointsABuildThatOutlivesTheGracePeriod() async throws {
        _ = await blocking { TestRepository.shared }
        let daemon = try DaemonHarness(label: "checkpoint", environment: TestSecrets.environment) { port, state in
            testConfig(port: port, stateDirectory: state, workers: 1, test: ["sleep", "300"], shutdownGrace: "1s")
        }
        defer { Task { await daemon.shutdown() } }
        try await daemon.start()
        let id = try #require(daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: secret)))
        let store = try daemon.openStore()
        try await eventually { try await store.build(id: id)?.state == .running }
        let stopping = ContinuousClock.now
        #expect(try await daemon.stop(signal: SIGTERM) == 0)
        let took = ContinuousClock.now - stopping
        // Far below the step's 300 s: the 1 s grace, then the checkpoint (loose bound: the parallel suite loads two cores).
        #expect(took < .seconds(60), "shutdown took \(took)")
        print("SIGTERM with a build past its 1 s grace: exit after \(took)")
        let build = try #require(try await store.build(id: id))
        #expect(build.state == .queued)
        #expect(build.attempts == 0, "a checkpoint does not use up the build's retry")
        // No `sleep 30` of this build is left behind.
        let leftovers = OrphanScan.processes(withEnvironment: [
            "SLIPWAY_INSTANCE=\(URL(fileURLWithPath: daemon.stateDirectory).standardizedFileURL.path)", "SLIPWAY_BUILD_ID=\(id)",
        ])
        #expect(leftovers.isEmpty, "processes left behind: \(leftovers)")
    }

    @Test func newerPushesSupersedeQueuedBuildsAndALaneRunsInOrder() async throws {
        // Each build's step waits for a GO file in its own checkout, which the test makes
        // only for the third: no build can end before the pushes after it arrive, however
        // slowly a loaded machine lets the test send them.
        try await withDaemon("lanes", workers: 1, test: ["sh", "-c", "while [ ! -f GO ]; do sleep 0.05; done"]) { daemon in
            let first = try #require(daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: secret)))
            let store = try daemon.openStore()
            try await eventually(timeout: .seconds(60)) { try await store.build(id: first)?.state == .running }
            let second = try #require(daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: secret)))
            let third = try #require(daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: secret)))
            // Queued or already running when the third push came: superseded either way
            // (a running one once its cancellation has gone through).
            try await eventually(timeout: .seconds(60)) { try await store.build(id: second)?.state == .superseded }
            #expect(try await store.build(id: second)?.reason == "superseded by build #\(third)")
            try await eventually(timeout: .seconds(60)) { try await store.steps(buildID: third).contains { $0.name == "test" } }
            _ = FileManager.default.createFile(atPath: "\(daemon.stateDirectory)/workspaces/\(third)/src/GO", contents: nil)
            let ended = try await daemon.waitForEnd(of: third, timeout: .seconds(60))
            #expect(ended.state == .success, "\(ended.reason ?? "")\n\(daemon.daemonLog())")
            let firstBuild = try #require(try await store.build(id: first))
            // The running build of the branch was canceled as superseded (cancel_superseded: true).
            #expect(firstBuild.state == .superseded, "\(firstBuild.state) \(firstBuild.reason ?? "")")
            #expect((firstBuild.finishedAt ?? .infinity) <= (ended.startedAt ?? 0), "one build of a branch at a time")
        }
    }

    @Test func withoutCancelSupersededEveryPushRunsInPushOrder() async throws {
        try await withDaemon("in-order", workers: 2, cancelSuperseded: false, test: ["sleep", "0.2"]) { daemon in
            var ids: [Int64] = []
            for _ in 0..<3 {
                ids.append(
                    try #require(daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: secret))))
            }
            var builds: [Build] = []
            for id in ids { builds.append(try await daemon.waitForEnd(of: id)) }
            #expect(
                builds.allSatisfy { $0.state == .success },
                "\(builds.map { "\($0.id) \($0.state) \($0.reason ?? "")" })\n\(daemon.daemonLog())")
            for (earlier, later) in zip(builds, builds.dropFirst()) {
                #expect((earlier.finishedAt ?? .infinity) <= (later.startedAt ?? 0), "build \(later.id) started before \(earlier.id) ended")
            }
        }
    }
}

/// Processes on this machine whose environment holds all of `entries`.
enum OrphanScan {
    static func processes(withEnvironment entries: Set<String>) -> [Int32] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.compactMap(Int32.init).filter { pid in
            guard let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            let variables = Set(environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
            return entries.isSubset(of: variables)
        }
    }
}
