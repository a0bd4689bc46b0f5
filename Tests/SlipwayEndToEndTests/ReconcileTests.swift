import Foundation
import SlipwayCore
import SlipwayStore
import SlipwayTesting
import Testing

/// `reconcile` with the real daemon and real git repositories (a bare repository over
/// file://, and one behind `git http-backend` with a token for the race): pushes made
/// while the daemon was stopped are built once, a new branch is a baseline, and a push
/// delivered while a listing runs is not built twice.
@Suite struct ReconcileTests {
    static func config(port: Int, state: String, cloneURL: String, interval: String, extra: String = "") -> String {
        """
        server: {listen: "127.0.0.1:\(port)"}
        state_dir: \(state)
        log_level: debug
        sandbox: none
        reconcile: \(interval)
        repositories:
          - name: acme/app
            webhook_secrets: [env:TEST_WEBHOOK_SECRET]
            clone_url: \(cloneURL)
            branches: [main, "release/*", "feature/*"]
            test: [sh, -c, "echo tests ran"]
        \(extra)
        """
    }

    /// `slipway_reconcile_heads_total{decision="…"}`, 0 when absent.
    static func heads(_ decision: ReconcileDecision, _ daemon: DaemonHarness) async throws -> Int {
        let reply = try await daemon.get("/metrics")
        let name = #"slipway_reconcile_heads_total{decision="\#(decision.rawValue)"} "#
        guard let line = reply.text.split(separator: "\n").first(where: { $0.hasPrefix(name) }) else { return 0 }
        return Int(Double(line.dropFirst(name.count)) ?? -1)
    }

    /// Heads listed that needed nothing (built, announced, or the same as last time).
    static func neededNothing(_ daemon: DaemonHarness) async throws -> Int {
        var total = 0
        for decision in [ReconcileDecision.unchanged, .built, .announced] { total += try await heads(decision, daemon) }
        return total
    }

    static func push(_ daemon: DaemonHarness, ref: String, sha: String, message: String = "a change") async throws -> DaemonHarness.Reply {
        try await daemon.deliver(
            event: "push", payload: SamplePushPayload.make(repository: "acme/app", ref: ref, sha: sha, message: message),
            secret: TestSecrets.repository)
    }

    @Test func pushesMissedWhileStoppedAreBuiltOnceAndANewBranchIsABaseline() async throws {
        let repository = try await blocking { try GitFixture(label: "reconcile", files: ["README.md": "v1\n"]) }
        defer { repository.remove() }
        let released = try await blocking {
            try repository.commit(files: ["RELEASE": "1.0\n"], message: "Release 1.0", branch: "release/1.0")
        }
        let daemon = try DaemonHarness(label: "reconcile", environment: TestSecrets.environment) { port, state in
            Self.config(port: port, state: state, cloneURL: repository.bareURL, interval: "2s")
        }
        try await daemon.run { daemon in
            // First start: every branch is new, so the first listing builds nothing.
            let store = try daemon.openStore()
            try await eventually { try await Self.heads(.baseline, daemon) == 2 }
            #expect(try await store.builds(.init()).isEmpty, "a fresh daemon does not build every branch it finds")
            // release/1.0's head is built from its push delivery.
            let pushed = try #require(daemon.buildID(of: try await Self.push(daemon, ref: "refs/heads/release/1.0", sha: released)))
            #expect(try await daemon.waitForEnd(of: pushed, timeout: .seconds(60)).state == .success)
            _ = try await daemon.stop()

            // While it is stopped: two pushes to main, a new branch with one commit.
            let (mainHead, featureHead) = try await blocking {
                _ = try repository.commit(files: ["README.md": "v2\n"], message: "Second", branch: "main")
                let main = try repository.commit(files: ["README.md": "v3\n"], message: "Third", branch: "main")
                let feature = try repository.commit(files: ["FEATURE": "x\n"], message: "Feature", branch: "feature/x")
                return (main, feature)
            }
            try await daemon.start()
            try await eventually {
                let queued = try await Self.heads(.build, daemon)
                let baseline = try await Self.heads(.baseline, daemon)
                return queued == 1 && baseline == 1
            }
            var builds = try await store.builds(.init())
            let caughtUp = try #require(builds.first { $0.trigger == .reconcile })
            #expect(builds.count == 2, "\(builds.map { "\($0.id) \($0.ref) \($0.trigger)" })")
            #expect(caughtUp.ref == "refs/heads/main" && caughtUp.sha.hex == mainHead, "only main's head, not the commit before it")
            #expect(!builds.contains { $0.ref == "refs/heads/feature/x" }, "a branch listed first is the baseline")
            #expect(try await daemon.waitForEnd(of: caughtUp.id, timeout: .seconds(60)).state == .success)
            #expect(daemon.daemonLog().contains("reconcile: a push no delivery announced; build queued"))

            // The missed delivery, sent again by hand after the catch-up: not built twice.
            let late = try await Self.push(daemon, ref: "refs/heads/main", sha: mainHead)
            #expect(late.status == 202)
            #expect(late.json["ignored"] as? String == "commit already built by reconcile (build #\(caughtUp.id))")

            // One more commit on the new branch: built at the next listing; nothing else is.
            // A push that asks not to be built ([skip ci]) is not built by the listing either
            // (delivered here before the branch moves, so no listing can see it first; the
            // other order is the grace period's: BranchReconciler).
            let skipped = try await blocking {
                try repository.commit(files: ["README.md": "v4\n"], message: "Docs [skip ci]", push: false)
            }
            let skippedReply = try await Self.push(daemon, ref: "refs/heads/main", sha: skipped, message: "Docs [skip ci]")
            #expect((skippedReply.json["ignored"] as? String)?.contains("[skip ci]") == true, "\(skippedReply.text)")
            try await blocking { try repository.push(branch: "main") }
            let listed = try await Self.neededNothing(daemon)
            let newer = try await blocking { try repository.commit(files: ["FEATURE": "y\n"], message: "More", branch: "feature/x") }
            #expect(newer != featureHead)
            try await eventually { try await Self.heads(.build, daemon) == 2 }
            // Two more listings: the heads now built are not built again.
            try await eventually { try await Self.neededNothing(daemon) >= listed + 6 }
            #expect(try await Self.heads(.announced, daemon) >= 2)
            builds = try await store.builds(.init())
            #expect(builds.count == 3, "\(builds.map { "\($0.id) \($0.ref) \($0.sha) \($0.trigger)" })")
            #expect(builds.filter { $0.ref == "refs/heads/feature/x" }.map(\.sha.hex) == [newer])
            #expect(
                builds.filter { $0.ref == "refs/heads/release/1.0" }.map(\.trigger) == [.push], "a head built from its push gets nothing")
        }
    }

    @Test func aPushDeliveredWhileTheListingRunsIsBuiltOnce() async throws {
        let repository = try await blocking { try GitFixture(label: "reconcile-race", files: ["README.md": "v1\n"]) }
        defer { repository.remove() }
        let server = try GitHTTPServer(root: repository.directory)
        defer {
            server.release()
            server.stop()
        }
        try await server.waitUntilListening()
        var environment = TestSecrets.environment
        environment["TEST_GIT_TOKEN"] = server.token
        let daemon = try DaemonHarness(label: "reconcile-race", environment: environment) { port, state in
            Self.config(
                port: port, state: state, cloneURL: "http://127.0.0.1:\(server.port)/origin.git", interval: "4s",
                extra: "    clone_auth: {token: env:TEST_GIT_TOKEN}")
        }
        try await daemon.run { daemon in
            let store = try daemon.openStore()
            try await eventually { try await Self.heads(.baseline, daemon) == 1 }
            #expect(server.requests.contains { $0.hasPrefix("Basic ") }, "listed with the repository's clone_auth")

            // The next listing is held by the git server; meanwhile main moves and its push arrives.
            try server.hold()
            let before = server.requests.count
            let head = try await blocking { try repository.commit(files: ["README.md": "v2\n"], message: "Second") }
            try await eventually { server.requests.count > before }
            let pushed = try #require(daemon.buildID(of: try await Self.push(daemon, ref: "refs/heads/main", sha: head)))
            let built = try await Self.heads(.built, daemon)
            server.release()
            try await eventually { try await Self.heads(.built, daemon) > built }
            var builds = try await store.builds(.init())
            #expect(builds.map(\.id) == [pushed], "the head is built once, from its push")
            #expect(try await Self.heads(.build, daemon) == 0)

            // The other order: a listing sees the new head before its delivery arrives. The
            // head is asked about again after the grace (half the 4 s interval): by then the
            // push is stored, and it is built once, as a push.
            let listed = server.requests.count
            let next = try await blocking { try repository.commit(files: ["README.md": "v3\n"], message: "Third") }
            try await eventually { server.requests.count > listed }
            let second = try #require(daemon.buildID(of: try await Self.push(daemon, ref: "refs/heads/main", sha: next)))
            let builtBefore = try await Self.heads(.built, daemon)
            try await eventually { try await Self.heads(.built, daemon) > builtBefore }
            builds = try await store.builds(.init())
            #expect(builds.map(\.id) == [second, pushed], "\(builds.map { "\($0.id) \($0.sha) \($0.trigger)" })")
            #expect(try await Self.heads(.build, daemon) == 0)
        }
    }
}
