import Foundation
import Logging
import ServiceLifecycle
import SlipwayCore
import SlipwayPipeline
import SlipwayStore
import SlipwayTesting
import Testing

/// What a graceful shutdown waits for: a finished build's clean-up (its local images, its
/// scratch files) runs apart from the build, and is waited for within the grace period.
@Suite struct BuildQueueShutdownTests {
    /// A step that succeeds at once and whose clean-up takes `cleanUpTime`, then leaves `mark`.
    struct SlowCleanUpStep: BuildStep {
        let name = "test"
        let mark: String
        let cleanUpTime: Duration

        func run(_ context: StepContext) async throws -> StepOutcome { .success }

        func cleanUp(_ context: StepContext) async {
            try? await Task.sleep(for: cleanUpTime)
            _ = FileManager.default.createFile(atPath: mark, contents: Data("cleaned".utf8))
        }
    }

    /// Runs one build whose clean-up takes `cleanUpTime`, shuts the queue down as soon as
    /// the build has ended, and returns whether the clean-up was done when the queue stopped.
    func cleanUpDoneAtShutdown(cleanUpTime: Duration, grace: String) async throws -> (cleaned: Bool, shutdown: Duration) {
        let directory = try TestPaths.temporaryDirectory("queue-shutdown")
        defer { TestPaths.removeTemporaryDirectory(directory) }
        let state = directory.appendingPathComponent("state").path
        let mark = directory.appendingPathComponent("cleaned").path
        let parts = try QueueParts(stateDirectory: state, queueSettings: "{workers: 1, shutdown_grace: \(grace)}") { _, _ in
            [SlowCleanUpStep(mark: mark, cleanUpTime: cleanUpTime)]
        }
        let (store, queue, intake) = (parts.store, parts.queue, parts.intake)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let group = ServiceGroup(configuration: .init(services: [.init(service: queue)], logger: logger))
        let running = Task { try await group.run() }
        let build = try await intake.request(
            BuildRequest(
                repository: "acme/app", ref: "refs/heads/main",
                sha: CommitID(String(repeating: "c", count: 40))!, cloneURL: nil,
                trigger: .rebuild, deliveryID: nil))
        let deadline = ContinuousClock.now + .seconds(60)
        while try await store.build(id: build.id)?.state != .success, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try await store.build(id: build.id)?.state == .success)
        let shutdown = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await running.value
        return (FileManager.default.fileExists(atPath: mark), ContinuousClock.now - shutdown)
    }

    @Test func shutdownWaitsForTheCleanUpOfAFinishedBuild() async throws {
        #expect(try await cleanUpDoneAtShutdown(cleanUpTime: .seconds(1), grace: "60s").cleaned)
    }

    @Test func aCleanUpLongerThanTheGraceDoesNotHoldShutdownUp() async throws {
        // Timed from the shutdown, not from the test's start: on a loaded machine the build
        // itself has taken a minute to be claimed and run.
        let (cleaned, shutdown) = try await cleanUpDoneAtShutdown(cleanUpTime: .seconds(300), grace: "1s")
        #expect(!cleaned)
        #expect(shutdown < .seconds(150), "shutdown waited for the clean-up past its grace: \(shutdown)")
    }
}
