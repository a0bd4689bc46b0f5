import SlipwayCore
import Testing

@Suite struct CommitStatusDescriptionTests {
    func build(_ state: BuildState, reason: String? = nil, seconds: Double = 12) -> Build {
        Build(
            id: 7, repository: "acme/app", ref: "refs/heads/main", sha: CommitID(String(repeating: "a", count: 40))!, cloneURL: nil,
            trigger: .push, deliveryID: nil, state: state, reason: reason, createdAt: 0, startedAt: 100, finishedAt: 100 + seconds,
            attempts: 1)
    }

    @Test func statesMapToGitHubStatesWithUsefulDescriptions() {
        var queued = build(.queued)
        queued.attempts = 0
        #expect(CommitStatus.of(queued) == CommitStatus(state: .pending, description: "queued"))
        #expect(CommitStatus.of(build(.running)).state == .pending)
        let failedTest = StepFailure.command("test", .exited(3))
        #expect(
            CommitStatus.of(build(.failure, reason: failedTest.detail), failureSummary: failedTest.summary)
                == CommitStatus(state: .failure, description: "tests failed (exit 3) after 12s"))
        let failedSmoke = StepFailure.command("smoke", .exited(2))
        #expect(
            CommitStatus.of(build(.failure, reason: failedSmoke.detail), failureSummary: failedSmoke.summary)
                == CommitStatus(state: .failure, description: "smoke exited with 2 after 12s"))
        #expect(
            CommitStatus.of(
                build(.failure, reason: "test timed out: step timeout 5m"),
                failureSummary: StepFailure.command("test", .timedOut(limit: "step timeout 5m")).summary)
                == CommitStatus(state: .failure, description: "tests timed out after 12s"))
        #expect(
            CommitStatus.of(build(.superseded, reason: "superseded by build #9"))
                == CommitStatus(state: .error, description: "superseded by build #9"))
        #expect(CommitStatus.of(build(.canceled, reason: "canceled by ops")) == CommitStatus(state: .error, description: "canceled by ops"))
        #expect(CommitStatus.of(build(.error, reason: "push of r/x:main failed")).description == "error: push of r/x:main failed")
        var pushed = build(.success, seconds: 75)
        pushed.image = ImageProvenance(
            name: "registry.example.com/acme/app", tags: ["main"], digest: "sha256:" + String(repeating: "1a2b", count: 16))
        pushed.model = ModelProvenance(source: "s3://models/resnet/v12.onnx", version: "\"v12\"", sha256: String(repeating: "f", count: 64))
        #expect(CommitStatus.of(pushed).description == "pushed app@sha256:1a2b1a2b1a2b… with model v12.onnx v12 in 1m15s")
    }

    @Test func descriptionsNeverExceed140Characters() {
        let long = CommitStatus.of(build(.error, reason: String(repeating: "x", count: 500)))
        #expect(long.description.count == 140)
        #expect(long.description.hasSuffix("…"))
    }
}
