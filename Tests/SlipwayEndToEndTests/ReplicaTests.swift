import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

/// Issue 18: slipwayd replicas on one PostgreSQL database (a real PostgreSQL 15 server of
/// the test's own), each a whole daemon with its own state directory. One test at a time:
/// each runs a database server and two or three daemons, and side by side on two cores
/// they starved one another's lease renewals (a test, not the product, was then wrong).
@Suite(.serialized) struct ReplicaTests {
    /// One replica on PostgreSQL takes a push and builds it. While the database is down it
    /// is not ready and refuses deliveries (503, never a 202 for what was not stored); once
    /// the database is back, it is ready and takes them again.
    @Test func aReplicaBuildsAPushAndRefusesDeliveriesWhileTheDatabaseIsDown() async throws {
        let cluster = try await ReplicaCluster()
        defer { cluster.remove() }
        let daemon = try cluster.replica("pg-one")
        try await daemon.run { daemon in
            let reply = try await daemon.deliver(event: "push", payload: pushPayload(), secret: TestSecrets.repository)
            #expect(reply.status == 202, "\(reply.text)")
            let id = try #require(daemon.buildID(of: reply))
            #expect(try await cluster.waitForEnd(of: id, on: daemon).state == "success")

            cluster.server.stop()
            try await eventually(timeout: .seconds(30)) { try await daemon.get("/readyz").status == 503 }
            let refused = try await daemon.deliver(event: "push", payload: pushPayload(branch: "down"), secret: TestSecrets.repository)
            #expect(refused.status == 503, "\(refused.text)")

            try await cluster.server.start()
            try await eventually(timeout: .seconds(30)) { try await daemon.get("/readyz").status == 200 }
            let accepted = try await daemon.deliver(event: "push", payload: pushPayload(branch: "back"), secret: TestSecrets.repository)
            #expect(accepted.status == 202, "\(accepted.text)")
            let stored = try await cluster.psql("SELECT count(*) FROM delivery")
            #expect(stored == "2", "the refused delivery must not be stored")
        }
    }

    /// Three replicas started at the same moment on an empty database: one schema, all
    /// ready. 2,000 deliveries sent round-robin over them from 16 senders, a tenth of
    /// them delivered again to another replica: one build per delivery id, every 2xx
    /// stored, the redeliveries answered as duplicates.
    @Test func threeReplicasShareOneQueueAndStoreEachDeliveryOnce() async throws {
        let cluster = try await ReplicaCluster()
        defer { cluster.remove() }
        let replicas = try (0..<3).map { try cluster.replica("pg-\($0)") }
        defer { Task { for replica in replicas { await replica.shutdown() } } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for replica in replicas { group.addTask { try await replica.start() } }
            try await group.waitForAll()
        }
        #expect(try await cluster.psql("SELECT count(*) FROM schema_migration") != "0")

        let deliveries = 2000
        let senders = 16
        let results = try await withThrowingTaskGroup(of: [(Int, Int)].self) { group in
            for sender in 0..<senders {
                group.addTask {
                    var answers: [(Int, Int)] = []
                    for index in stride(from: sender, to: deliveries, by: senders) {
                        let id = "round-robin-\(index)"
                        let payload = pushPayload(branch: "b\(index % 12)", message: "push \(index)")
                        let first = try await replicas[index % 3].deliver(
                            event: "push", payload: payload, secret: TestSecrets.repository, deliveryID: id)
                        guard index % 10 == 0 else {
                            answers.append((first.status, 0))
                            continue
                        }
                        let again = try await replicas[(index + 1) % 3].deliver(
                            event: "push", payload: payload, secret: TestSecrets.repository, deliveryID: id)
                        answers.append((first.status, again.status))
                    }
                    return answers
                }
            }
            return try await group.reduce(into: [(Int, Int)]()) { $0 += $1 }
        }
        #expect(results.allSatisfy { $0.0 == 202 }, "\(results.map(\.0).filter { $0 != 202 })")
        #expect(results.filter { $0.1 != 0 }.allSatisfy { $0.1 == 200 }, "redeliveries are duplicates")
        #expect(try await cluster.psql("SELECT count(*) FROM delivery") == "\(deliveries)")
        #expect(try await cluster.psql("SELECT count(*) FROM build") == "\(deliveries)")
        #expect(try await cluster.psql("SELECT count(DISTINCT build_id) FROM delivery") == "\(deliveries)")
        // Each lane's newest push is built; the older ones were superseded, on any replica.
        try await eventually(timeout: .seconds(120)) {
            try await cluster.psql("SELECT count(*) FROM build WHERE state IN ('queued', 'running')") == "0"
        }
        // Each lane's newest build succeeded; an older one succeeded too if it ended before
        // the next push of its lane came, or was superseded.
        #expect(
            try await cluster.psql(
                "SELECT count(*) FROM build b WHERE state = 'success' AND NOT EXISTS (SELECT 1 FROM build n WHERE n.ref = b.ref AND n.id > b.id)"
            ) == "12")
        let others = try await cluster.psql(
            "SELECT id || ' ' || state || ' ' || COALESCE(reason, '') FROM build WHERE state NOT IN ('success', 'superseded')")
        #expect(others.isEmpty, "\(others)")
        for replica in replicas { await replica.shutdown() }
    }

    /// A replica SIGKILLed with two builds inside their step and two queued: after the
    /// lease (5 s here) the survivor runs them; each ends once, in success, and the step's
    /// side effect shows no command ran more than twice.
    @Test func aKilledReplicasBuildsRunOnTheSurvivorAfterTheLease() async throws {
        let cluster = try await ReplicaCluster()
        defer { cluster.remove() }
        let gate = try GatedStep("replica-gate", recording: "$SLIPWAY_BUILD_ID")
        defer { gate.remove() }
        let step = gate.argv
        let doomed = try cluster.replica("pg-doomed", workers: 2, test: step, lease: "5s")
        let survivor = try cluster.replica("pg-survivor", workers: 4, test: step, lease: "5s")
        defer { Task { await survivor.shutdown() } }
        try await doomed.run { doomed in
            var ids: [Int64] = []
            for branch in ["k1", "k2", "k3", "k4"] {
                let reply = try await doomed.deliver(event: "push", payload: pushPayload(branch: branch), secret: TestSecrets.repository)
                ids.append(try #require(doomed.buildID(of: reply)))
            }
            try await eventually { gate.recorded.count == 2 }   // two inside their step, two queued
            try await doomed.stop(signal: SIGKILL)
            let killed = ContinuousClock.now
            try await survivor.start()
            // The survivor takes the queued two at once, the killed replica's two after its lease.
            try await eventually(timeout: .seconds(60)) { gate.recorded.count == 6 }
            let failover = ContinuousClock.now - killed
            print("replica failover: SIGKILL to both builds running again on the survivor: \(failover)")
            gate.open()
            for id in ids {
                let build = try await cluster.waitForEnd(of: id, on: survivor)
                #expect(build.state == "success", "build \(id): \(build)")
            }
            let runs = Dictionary(grouping: gate.recorded, by: { $0 }).mapValues(\.count)
            #expect(runs.count == 4 && runs.values.allSatisfy { $0 <= 2 }, "\(runs)")
            #expect(runs.values.filter { $0 == 2 }.count == 2, "the two killed mid-step ran again: \(runs)")
            #expect(try await cluster.psql("SELECT count(*) FROM build WHERE state <> 'success'") == "0")
        }
        await survivor.shutdown()
    }

    /// A replica paused (SIGSTOP) for longer than its lease while its build is inside its
    /// step: another replica takes the build over as attempt 2. Woken (SIGCONT), the
    /// paused replica learns it lost the lease, kills the step's processes and writes
    /// nothing more for attempt 1; the build ends as attempt 2 ends.
    @Test func aPausedReplicaThatLostItsLeaseStopsAndWritesNothingMore() async throws {
        let cluster = try await ReplicaCluster()
        defer { cluster.remove() }
        let gate = try GatedStep("replica-pause")
        defer { gate.remove() }
        let step = gate.argv
        let paused = try cluster.replica("pg-paused", workers: 1, test: step, lease: "5s")
        let other = try cluster.replica("pg-other", workers: 1, test: step, lease: "5s")
        defer { Task { await other.shutdown() } }
        try await paused.run { paused in
            let reply = try await paused.deliver(event: "push", payload: pushPayload(branch: "pause"), secret: TestSecrets.repository)
            let id = try #require(paused.buildID(of: reply))
            try await eventually { gate.recorded.count == 1 }
            let firstShell = try #require(Int32(gate.recorded[0]))
            paused.signal(SIGSTOP)
            try await other.start()
            try await eventually(timeout: .seconds(60)) { gate.recorded.count == 2 }
            let recordedBefore = try await cluster.recordsOfAttemptOne(id)
            paused.signal(SIGCONT)
            // Within a renewal (a third of the lease) and the stop's grace, its step is gone.
            try await eventually(timeout: .seconds(30)) { kill(firstShell, 0) != 0 }
            try await Task.sleep(for: .seconds(2))   // time for any write it might still try
            #expect(try await cluster.recordsOfAttemptOne(id) == recordedBefore, "attempt 1 wrote after it lost the build")
            #expect(try await cluster.psql("SELECT state || ' ' || attempts FROM build WHERE id = \(id)") == "running 2")
            gate.open()
            let build = try await cluster.waitForEnd(of: id, on: paused)
            #expect(build.state == "success" && build.attempts == 2, "\(build)")
            // It learns it from its lease renewal, or, when that renewal is still waiting for
            // the database (seen under stress-ng), from its refused step-end write: either way
            // it says so.
            let log = paused.daemonLog()
            #expect(
                log.contains("build taken over by another replica") || log.contains("build lost to another replica"),
                "the paused replica says it lost the build")
        }
        await other.shutdown()
    }

    /// `POST /api/v1/builds/{id}/cancel` on replica B of a build running on replica A:
    /// B records the cancel, and A, told through NOTIFY, stops the build's processes and
    /// writes nothing more for it.
    @Test func aCancelThroughAnotherReplicaStopsTheBuildWhereItRuns() async throws {
        let cluster = try await ReplicaCluster()
        defer { cluster.remove() }
        let gate = try GatedStep("replica-cancel")
        defer { gate.remove() }
        let step = gate.argv
        let runner = try cluster.replica("pg-runs", workers: 1, test: step)
        let front = try cluster.replica("pg-front", workers: 1, test: step)
        defer { Task { await front.shutdown() } }
        try await runner.run { runner in
            let reply = try await runner.deliver(event: "push", payload: pushPayload(branch: "cancel-me"), secret: TestSecrets.repository)
            let id = try #require(runner.buildID(of: reply))
            try await eventually { gate.recorded.count == 1 }
            let shell = try #require(Int32(gate.recorded[0]))
            try await front.start()
            let asked = ContinuousClock.now
            let canceled = try await front.request(
                "POST", "/api/v1/builds/\(id)/cancel", headers: [("Authorization", "Bearer \(OperatorAPITests.token)")], body: nil)
            #expect(canceled.status == 202, "\(canceled.text)")
            try await eventually(timeout: .seconds(30)) { kill(shell, 0) != 0 }
            print("replica cancel: asked on one replica to the step's process gone on the other: \(ContinuousClock.now - asked)")
            let build = try await cluster.waitForEnd(of: id, on: runner)
            #expect(build.state == "canceled" && build.attempts == 1, "\(build)")
            #expect(runner.daemonLog().contains("stopping a build canceled through another replica"), "told by NOTIFY, not by its lease")
            #expect(gate.recorded.count == 1, "the canceled build is not run again")
        }
        await front.shutdown()
    }

    /// The status outbox poster, the model watchers and the deploy scheduler run on one
    /// replica at a time. When that replica is SIGKILLed, the other takes them over once
    /// their lease (5 s) has run out, and posts the statuses of a build it then runs.
    @Test func singletonJobsRunOnOneReplicaAndFailOver() async throws {
        let cluster = try await ReplicaCluster()
        defer { cluster.remove() }
        let github = try FakeGitHubAPI()
        defer { github.remove() }
        try await github.start()
        let first = try cluster.replica("pg-first", github: github, lease: "5s")
        let second = try cluster.replica("pg-second", github: github, lease: "5s")
        defer { Task { await second.shutdown() } }
        let jobs = ["status-poster", "deploy-scheduler", "model-watch"]
        func holders(_ daemon: DaemonHarness) -> Set<String> {
            let log = daemon.daemonLog().split(separator: "\n")
            return Set(
                jobs.filter { job in log.contains { $0.contains("job=\(job) ") && $0.contains("this replica runs the cluster's job") } })
        }
        try await first.run { first in
            try await eventually { holders(first) == Set(jobs) }
            try await second.start()
            try await Task.sleep(for: .seconds(6))   // more than a lease: the second asked and was refused
            #expect(holders(second).isEmpty, "\(second.daemonLog())")
            try await first.stop(signal: SIGKILL)
            let killed = ContinuousClock.now
            try await eventually(timeout: .seconds(30)) { holders(second) == Set(jobs) }
            print("singleton failover: SIGKILL to every job running on the other replica: \(ContinuousClock.now - killed)")

            let reply = try await second.deliver(
                event: "push", payload: pushPayload(branch: "after-failover"), secret: TestSecrets.repository)
            let id = try #require(second.buildID(of: reply))
            #expect(try await cluster.waitForEnd(of: id, on: second).state == "success")
            try await eventually { github.statusRequests.contains { $0.body["state"] == "success" } }
            try await Task.sleep(for: .seconds(2))
            let posted = github.statusRequests.map { "\($0.body["state"] ?? "") \($0.body["description"] ?? "")" }
            #expect(Set(posted).count == posted.count, "each status posted once: \(posted)")
        }
        await second.shutdown()
    }

    /// `slipway logs -f` through replica B of a build running on replica A shows lines
    /// before the build ends, then the rest; once A is gone, B still serves the whole log
    /// (it is in the database, not on A's disk).
    @Test func aLogIsFollowedThroughAnotherReplicaAndOutlivesItsRunner() async throws {
        let cluster = try await ReplicaCluster()
        defer { cluster.remove() }
        let gate = try GatedStep("replica-logs")
        defer { gate.remove() }
        let step = [
            "sh", "-c", "echo first-line; while [ ! -f \(gate.directory.path)/GO ]; do sleep 0.05; done; echo second-line",
        ]
        let runner = try cluster.replica("pg-log-runs", workers: 1, test: step)
        let reader = try cluster.replica("pg-log-reads", workers: 1, test: step)
        defer { Task { await reader.shutdown() } }
        try await runner.run { runner in
            let reply = try await runner.deliver(event: "push", payload: pushPayload(branch: "logs"), secret: TestSecrets.repository)
            let id = try #require(runner.buildID(of: reply))
            try await reader.start()
            let cli = try CLIProcess(environment: ["SLIPWAY_URL": reader.baseURL, "SLIPWAY_TOKEN": OperatorAPITests.token, "NO_COLOR": "1"])
            defer { cli.removeFiles() }
            let follower = try cli.start(["logs", "\(id)", "-f"])
            // Whole lines: the step's header line names the command, both words included.
            func said(_ text: String, _ line: String) -> Bool { text.split(separator: "\n").contains { $0 == line } }
            try await eventually(timeout: .seconds(30)) { said(follower.stdoutSoFar(), "first-line") }
            #expect(try await cluster.psql("SELECT state FROM build WHERE id = \(id)") == "running", "the line came before the end")
            #expect(!said(follower.stdoutSoFar(), "second-line"))
            gate.open()
            let followed = await blocking { follower.wait() }
            #expect(followed.status == 0, "\(followed.stderr)")
            #expect(said(followed.stdout, "second-line") && followed.stdout.contains("build success"), "\(followed.stdout)")

            await runner.shutdown()   // its state directory, log file included, is gone
            let whole = try await reader.get("/api/v1/builds/\(id)/log", headers: [("Authorization", "Bearer \(OperatorAPITests.token)")])
            #expect(whole.status == 200 && said(whole.text, "second-line") && whole.text.contains("build success"), "\(whole.text)")
        }
        await reader.shutdown()
    }

    /// The status poster's replica SIGKILLed with 50 statuses waiting (GitHub rate-limited
    /// it; each of 50 commits' final status): the other replica takes the poster over after
    /// the lease and posts every one, each commit's in the order they were written (never a
    /// pending after its success; a pending a newer status overtook is not sent at all).
    @Test func theOutboxLeaderKilledWithStatusesPendingLosesNone() async throws {
        let cluster = try await ReplicaCluster()
        defer { cluster.remove() }
        let github = try FakeGitHubAPI()
        defer { github.remove() }
        try await github.start()
        let repository = try GitFixture(label: "outbox-commits", files: ["README.md": "outbox\n"])
        defer { repository.remove() }
        var commits: [(branch: String, sha: String)] = []
        for index in 0..<50 {
            let sha = try repository.commit(files: ["n.txt": "\(index)\n"], message: "commit \(index)", branch: "o\(index)")
            commits.append(("o\(index)", sha))
        }
        try github.script(["ratelimit:3600"])   // the first status: posting pauses for an hour
        let leader = try cluster.replica("pg-outbox-leader", workers: 4, github: github, lease: "5s", cloneURL: repository.bareURL)
        let heir = try cluster.replica("pg-outbox-heir", github: github, lease: "5s", cloneURL: repository.bareURL)
        defer { Task { await heir.shutdown() } }
        try await leader.run { leader in
            for commit in commits {
                let reply = try await leader.deliver(
                    event: "push", payload: pushPayload(branch: commit.branch, sha: commit.sha), secret: TestSecrets.repository)
                #expect(reply.status == 202)
            }
            try await eventually(timeout: .seconds(120)) {
                try await cluster.psql("SELECT count(*) FROM build WHERE state = 'success'") == "50"
            }
            let waiting = try await cluster.psql("SELECT count(*) FROM status_outbox WHERE delivered_at IS NULL AND closed_reason IS NULL")
            #expect((Int(waiting) ?? 0) >= 50, "statuses waiting: \(waiting)")
            try await leader.stop(signal: SIGKILL)
            try await heir.start()
            try await eventually(timeout: .seconds(60)) {
                Set(github.statusRequests.filter { $0.status == 201 && $0.body["state"] == "success" }.map(\.path)).count == 50
            }
            for commit in commits {
                let states = github.statusRequests.filter { $0.status == 201 && $0.path.hasSuffix("/statuses/\(commit.sha)") }
                    .map { $0.body["state"] ?? "" }
                #expect(states.last == "success" && !states.dropLast().contains("success"), "\(commit.branch): \(states)")
            }
            // The poster marks a status delivered after GitHub's 201, so the last mark can
            // follow the last request seen above by a moment.
            let open = "SELECT count(*) FROM status_outbox WHERE delivered_at IS NULL AND closed_reason IS NULL"
            try await eventually(timeout: .seconds(30)) { try await cluster.psql(open) == "0" }
            let left = try await cluster.psql(open)
            #expect(left == "0", "statuses still waiting: \(left)")
        }
        await heir.shutdown()
    }

    /// Like the pause, with the replica in a network namespace of its own (a veth pair to
    /// the database's address) and the link cut for longer than the lease: the cut replica
    /// stops its build once a lease has passed without a renewal, the other replica runs
    /// the build as attempt 2, and after the link is back the cut replica writes nothing
    /// more for attempt 1.
    @Test func aReplicaCutOffFromTheDatabaseStopsItsBuildAndWritesNothingMore() async throws {
        let net = try NetworkNamespace()
        defer { net.remove() }
        let cluster = try await ReplicaCluster(listenAlso: [net.hostAddress], allow: net.network)
        defer { cluster.remove() }
        let gate = try GatedStep("replica-cut")
        defer { gate.remove() }
        let step = gate.argv
        let cut = try cluster.replica(
            "pg-cut", workers: 1, test: step, lease: "5s", databaseHost: net.hostAddress, listenHost: net.namespaceAddress)
        cut.launcher = ["/usr/sbin/ip", "netns", "exec", net.name]
        cut.host = net.namespaceAddress
        let other = try cluster.replica("pg-uncut", workers: 1, test: step, lease: "5s")
        defer { Task { await other.shutdown() } }
        try await cut.run { cut in
            let reply = try await cut.deliver(event: "push", payload: pushPayload(branch: "cut"), secret: TestSecrets.repository)
            let id = try #require(cut.buildID(of: reply))
            try await eventually { gate.recorded.count == 1 }
            let firstShell = try #require(Int32(gate.recorded[0]))
            try net.cutLink()
            let cutAt = ContinuousClock.now
            try await other.start()
            try await eventually(timeout: .seconds(60)) { kill(firstShell, 0) != 0 }
            print("network cut: the cut replica stopped its build's process \(ContinuousClock.now - cutAt) after the cut")
            try await eventually(timeout: .seconds(60)) { gate.recorded.count == 2 }
            print("network cut: the build running again on the other replica \(ContinuousClock.now - cutAt) after the cut")
            let recordedBefore = try await cluster.recordsOfAttemptOne(id)
            try net.restoreLink()
            try await Task.sleep(for: .seconds(3))   // writes held up by the cut arrive now, if any
            #expect(try await cluster.recordsOfAttemptOne(id) == recordedBefore, "attempt 1 wrote after it lost the build")
            #expect(try await cluster.psql("SELECT state || ' ' || attempts FROM build WHERE id = \(id)") == "running 2")
            gate.open()
            let build = try await cluster.waitForEnd(of: id, on: other)
            #expect(build.state == "success" && build.attempts == 2, "\(build)")
        }
        await other.shutdown()
    }

}

/// A PostgreSQL server of the test's own with Slipway's role and database, and replicas
/// configured for it (a state directory each). Tests of a replica's death shorten the
/// lease to 5 s (shorter, a loaded machine delays renewals past it).
final class ReplicaCluster: Sendable {
    let server: PostgresHarness
    static let password = "replica-" + UUID().uuidString

    /// `listenAlso`, `allow`: more addresses to listen on, and a network (CIDR) whose
    /// clients may log in (a replica in a network namespace of its own).
    init(listenAlso: [String] = [], allow network: String? = nil) async throws {
        server = try await PostgresHarness(label: "replicas")
        do {
            server.extraListenAddresses = listenAlso
            if let network { try server.allowPasswordLogins(from: network) }
            try await server.start()
            try await server.createRoleAndDatabase(role: "slipway", password: Self.password, database: "slipway")
        } catch {
            print("--- postgres log ---\n\(server.log)")
            server.remove()
            throw error
        }
    }

    func replica(
        _ label: String, workers: Int = 2, test: [String] = ["sh", "-c", "echo tests ran"], github: FakeGitHubAPI? = nil,
        lease: String = "30s", cloneURL: String = TestRepository.shared.bareURL, databaseHost: String = "127.0.0.1",
        listenHost: String = "127.0.0.1"
    ) throws -> DaemonHarness {
        var environment = TestSecrets.environment
        environment["TEST_PG_PASSWORD"] = Self.password
        environment["TEST_OPS_TOKEN"] = OperatorAPITests.token
        if let github { environment["TEST_GITHUB_TOKEN"] = github.token }
        let port = server.port
        let githubYAML = github.map { CommitStatusTests.githubYAML($0) + "\n" } ?? ""
        return try DaemonHarness(label: label, environment: environment) { daemonPort, state in
            testConfig(
                port: daemonPort, stateDirectory: state, workers: workers, test: test, cloneURL: cloneURL,
                topLevelExtra: OperatorAPITests.apiYAML + "\nsandbox: none\n" + githubYAML
            )
            .replacingOccurrences(
                of: "database: sqlite",
                with:
                    "database: postgres://slipway@\(databaseHost):\(port)/slipway?sslmode=disable\ndatabase_password: env:TEST_PG_PASSWORD"
            )
            .replacingOccurrences(of: "  shutdown_grace:", with: "  lease: \(lease)\n  shutdown_grace:")
            .replacingOccurrences(of: "127.0.0.1:\(daemonPort)", with: "\(listenHost):\(daemonPort)")
        }
    }

    func psql(_ sql: String) async throws -> String { try await server.psql(sql, database: "slipway") }

    /// What attempt 1 of build `id` has recorded: its finished steps, and the build's
    /// statuses in the outbox. Unchanged once its replica has lost the build.
    func recordsOfAttemptOne(_ id: Int64) async throws -> [String] {
        [
            try await psql("SELECT count(*) FROM build_step WHERE build_id = \(id) AND attempt = 1 AND finished_at IS NOT NULL"),
            try await psql("SELECT count(*) FROM status_outbox WHERE build_id = \(id)"),
        ]
    }

    struct BuildSeen: CustomStringConvertible {
        let state: String
        let attempts: Int
        var description: String { "\(state), attempt \(attempts)" }
    }

    /// Polls build `id` through `daemon`'s API until it is final.
    func waitForEnd(of id: Int64, on daemon: DaemonHarness, timeout: Duration = .seconds(60)) async throws -> BuildSeen {
        let deadline = ContinuousClock.now + timeout
        var last: BuildSeen?
        while ContinuousClock.now < deadline {
            let reply = try await daemon.get("/api/v1/builds/\(id)", headers: [("Authorization", "Bearer \(OperatorAPITests.token)")])
            if reply.status == 200, let state = reply.json["state"] as? String {
                last = BuildSeen(state: state, attempts: (reply.json["attempts"] as? Int) ?? 0)
                if let seen = last, BuildState(rawValue: state)?.isTerminal == true { return seen }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("build \(id) did not end within \(timeout): \(last.map(\.description) ?? "never seen")")
    }

    func remove() { server.remove() }
}

/// A network namespace of the test's own with a veth pair to it: the host's end and the
/// namespace's end on a /30 of 10.201.0.0/16. `cutLink` takes the host's end down (no
/// packet passes, nothing is reset: as a cable pulled); `restoreLink` brings it back.
final class NetworkNamespace: Sendable {
    let name: String
    let hostAddress: String
    let namespaceAddress: String
    let network: String
    private let hostEnd: String

    init() throws {
        let tag = String(UInt32.random(in: 0..<0xFF_FFFF), radix: 16)
        name = "slipway-" + tag
        hostEnd = "swh" + tag
        let subnet = Int.random(in: 0..<16_384) * 4
        let prefix = "10.201.\(subnet / 256)."
        hostAddress = prefix + "\(subnet % 256 + 1)"
        namespaceAddress = prefix + "\(subnet % 256 + 2)"
        network = prefix + "\(subnet % 256)/30"
        let namespaceEnd = "swn" + tag
        do {
            try Self.ip(["netns", "add", name])
            try Self.ip(["link", "add", hostEnd, "type", "veth", "peer", "name", namespaceEnd])
            try Self.ip(["link", "set", namespaceEnd, "netns", name])
            try Self.ip(["addr", "add", hostAddress + "/30", "dev", hostEnd])
            try Self.ip(["link", "set", hostEnd, "up"])
            try Self.ip(["netns", "exec", name, "ip", "addr", "add", namespaceAddress + "/30", "dev", namespaceEnd])
            try Self.ip(["netns", "exec", name, "ip", "link", "set", namespaceEnd, "up"])
            try Self.ip(["netns", "exec", name, "ip", "link", "set", "lo", "up"])
        } catch {
            remove()
            throw error
        }
    }

    func cutLink() throws { try Self.ip(["link", "set", hostEnd, "down"]) }
    func restoreLink() throws { try Self.ip(["link", "set", hostEnd, "up"]) }

    func remove() {
        _ = try? runProgram("/usr/sbin/ip", ["link", "del", hostEnd])
        _ = try? runProgram("/usr/sbin/ip", ["netns", "del", name])
    }

    private static func ip(_ arguments: [String]) throws {
        let result = try runProgram("/usr/sbin/ip", arguments)
        guard result.status == 0 else { throw HarnessError("ip \(arguments.joined(separator: " ")): \(result.output)") }
    }
}

/// A test step that records its run (the shell's pid, or `recording`) in a file, then
/// waits until the test opens its gate: a build held inside its step.
struct GatedStep {
    let directory: URL
    let argv: [String]

    init(_ label: String, recording: String = "$$") throws {
        directory = try TestPaths.temporaryDirectory(label)
        let ran = directory.appendingPathComponent("ran").path
        argv = ["sh", "-c", "echo \(recording) >> \(ran); while [ ! -f \(directory.path)/GO ]; do sleep 0.05; done"]
    }

    /// What each run recorded, in order.
    var recorded: [String] {
        ((try? String(contentsOf: directory.appendingPathComponent("ran"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func open() { FileManager.default.createFile(atPath: directory.appendingPathComponent("GO").path, contents: nil) }
    func remove() { TestPaths.removeTemporaryDirectory(directory) }
}
