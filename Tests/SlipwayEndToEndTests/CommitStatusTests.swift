import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

/// Commit statuses posted to `FakeGitHubAPI`, a local server that checks requests against
/// GitHub's documented API (it is not GitHub).
@Suite struct CommitStatusTests {
    let secret = TestSecrets.repository

    static func githubYAML(_ github: FakeGitHubAPI, auth: String = "token: env:TEST_GITHUB_TOKEN") -> String {
        """
        github:
          api_url: \(github.apiURL)
          \(auth)
          status_context: ci/slipway
        """
    }

    func withGitHub(
        _ label: String, test: [String] = ["sh", "-c", "echo tests ran"], auth: String = "token: env:TEST_GITHUB_TOKEN",
        app: (id: Int, installation: Int, publicKeyPath: String)? = nil, environment: [String: String] = [:],
        _ body: (DaemonHarness, FakeGitHubAPI) async throws -> Void
    ) async throws {
        let github = try FakeGitHubAPI(app: app)
        defer { github.remove() }
        try await github.start()
        var env = TestSecrets.environment.merging(environment) { $1 }
        env["TEST_GITHUB_TOKEN"] = github.token
        _ = await blocking { TestRepository.shared }
        let daemon = try DaemonHarness(label: label, environment: env) { port, state in
            testConfig(port: port, stateDirectory: state, test: test, topLevelExtra: Self.githubYAML(github, auth: auth))
        }
        try await daemon.run { try await body($0, github) }
    }

    /// Waits until a status other than pending has been accepted. A `pending` that a newer
    /// status of the commit overtook before it was sent is dropped, so "queued" may not appear.
    func waitForFinalStatus(_ github: FakeGitHubAPI, timeout: Duration = .seconds(30)) async throws -> [FakeGitHubAPI.Recorded] {
        try await eventually(timeout: timeout) { github.statusRequests.contains { $0.status == 201 && $0.body["state"] != "pending" } }
        return github.statusRequests
    }

    @Test func aPassingBuildPostsPendingThenSuccess() async throws {
        try await withGitHub("status-success") { daemon, github in
            let id = try #require(daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: secret)))
            #expect(try await daemon.waitForEnd(of: id).state == .success)
            let requests = try await waitForFinalStatus(github)
            #expect(requests.allSatisfy { $0.violations.isEmpty }, "\(requests.map(\.violations))")
            let states = requests.map { $0.body["state"] ?? "" }
            #expect(states.last == "success" && states.count >= 2 && states.dropLast().allSatisfy { $0 == "pending" }, "\(states)")
            #expect(requests.allSatisfy { $0.method == "POST" && $0.path == "/repos/acme/app/statuses/\(TestRepository.head)" })
            #expect(requests.allSatisfy { $0.body["target_url"] == "\(daemon.baseURL)/builds/\(id)" && $0.body["context"] == "ci/slipway" })
            #expect(
                ["queued", "running (attempt 1)"].contains(requests.first?.body["description"] ?? ""), "\(requests.first?.body ?? [:])")
            #expect(requests.last?.body["description"]?.hasPrefix("build passed in ") == true, "\(requests.last?.body ?? [:])")
            print(
                "status requests: "
                    + requests.map { "\($0.method) \($0.path) \($0.body["state"] ?? "") '\($0.body["description"] ?? "")' -> \($0.status)" }
                    .joined(separator: "; "))
        }
    }

    @Test func aFailingBuildPostsPendingThenFailureWithAUsefulDescription() async throws {
        try await withGitHub("status-failure", test: ["sh", "-c", "exit 3"]) { daemon, github in
            let id = try #require(daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: secret)))
            #expect(try await daemon.waitForEnd(of: id).state == .failure)
            let requests = try await waitForFinalStatus(github)
            let states = requests.map { $0.body["state"] ?? "" }
            #expect(states.last == "failure" && states.dropLast().allSatisfy { $0 == "pending" } && states.count >= 2, "\(states)")
            #expect(requests.last?.body["description"]?.hasPrefix("tests failed (exit 3) after ") == true, "\(requests.last?.body ?? [:])")
        }
    }

    @Test func aServerErrorIsRetriedAndARateLimitWaitedOut() async throws {
        try await withGitHub("status-retry") { daemon, github in
            try github.script(["500", "ratelimit:2"])
            let id = try #require(daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: secret)))
            #expect(try await daemon.waitForEnd(of: id).state == .success)
            try await eventually(timeout: .seconds(30)) {
                github.statusRequests.last?.body["state"] == "success" && github.statusRequests.last?.status == 201
            }
            let all = github.statusRequests
            #expect(all.map(\.status).prefix(3) == [500, 403, 201], "\(all.map(\.status))")
            let limited = try #require(all.first { $0.status == 403 })
            let after = try #require(all.first { $0.time > limited.time })
            #expect(after.time - limited.time >= 1.9, "waited \(after.time - limited.time) s for Retry-After: 2")
            // The pending that was overtaken while waiting is not sent late: the last word is success.
            #expect(all.last?.body["state"] == "success")
            #expect(!all.drop { $0.body["state"] != "success" || $0.status != 201 }.dropFirst().contains { $0.body["state"] == "pending" })
        }
    }

    @Test func a422IsGivenUpWithTheReasonLogged() async throws {
        try await withGitHub("status-422") { daemon, github in
            try github.script(["422"])
            let id = try #require(daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: secret)))
            #expect(try await daemon.waitForEnd(of: id).state == .success)
            try await eventually { github.statusRequests.contains { $0.status == 201 && $0.body["state"] == "success" } }
            #expect(github.statusRequests.filter { $0.status == 422 }.count == 1, "not retried")
            #expect(daemon.daemonLog().contains("HTTP 422: No commit found for SHA"))
            #expect(!daemon.daemonLog().contains(github.token), "the token reached the log")
        }
    }

    @Test func aGitHubAppTokenIsExchangedOnceAndReused() async throws {
        let keys = try TestPaths.temporaryDirectory("app-key")
        defer { TestPaths.removeTemporaryDirectory(keys) }
        let privateKey = keys.appendingPathComponent("app.pem").path
        let publicKey = keys.appendingPathComponent("app.pub.pem").path
        try await blocking {
            _ = try runProgram("/usr/bin/openssl", ["genrsa", "-traditional", "-out", privateKey, "2048"])
            _ = try runProgram("/usr/bin/openssl", ["rsa", "-in", privateKey, "-pubout", "-out", publicKey])
        }
        try await withGitHub(
            "status-app", auth: "app: {id: 4242, installation_id: 99, private_key: file:\(privateKey)}",
            app: (4242, 99, publicKey)
        ) { daemon, github in
            for branch in ["one", "two"] {
                let id = try #require(
                    daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(branch: branch), secret: secret)))
                #expect(try await daemon.waitForEnd(of: id).state == .success)
            }
            try await eventually { github.statusRequests.filter { $0.status == 201 && $0.body["state"] == "success" }.count == 2 }
            let exchanges = github.requests.filter { $0.path == "/app/installations/99/access_tokens" }
            #expect(exchanges.count == 1, "one token exchange, reused: \(exchanges.map(\.status))")
            #expect(exchanges.allSatisfy { $0.status == 201 && $0.violations.isEmpty }, "\(exchanges.map(\.violations))")
            #expect(github.statusRequests.allSatisfy { $0.violations.isEmpty })
        }
    }

    @Test func theOutboxSurvivesARestart() async throws {
        let github = try FakeGitHubAPI()
        defer { github.remove() }
        var env = TestSecrets.environment
        env["TEST_GITHUB_TOKEN"] = github.token
        _ = await blocking { TestRepository.shared }
        let daemon = try DaemonHarness(label: "status-outbox", environment: env) { port, state in
            testConfig(port: port, stateDirectory: state, topLevelExtra: Self.githubYAML(github))
        }
        try await daemon.run { daemon in
            // GitHub is down while the build runs; the daemon then stops.
            let id = try #require(daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: secret)))
            #expect(try await daemon.waitForEnd(of: id).state == .success)
            try await Task.sleep(for: .seconds(1))
            #expect(try await daemon.stop() == 0)
            #expect(github.statusRequests.isEmpty)
            try await github.start()
            try await daemon.start()
            try await eventually(timeout: .seconds(30)) { github.statusRequests.last?.body["state"] == "success" }
            #expect(github.statusRequests.filter { $0.status == 201 }.map { $0.body["state"] ?? "" }.last == "success")
            #expect(
                !github.statusRequests.contains {
                    $0.status == 201 && $0.body["state"] == "pending"
                        && $0.time > (github.statusRequests.first { $0.body["state"] == "success" }?.time ?? .infinity)
                })
        }
    }

    @Test func statusesOfOneCommitStayInOrderUnderAFastRunOfBuilds() async throws {
        try await withGitHub("status-order") { daemon, github in
            var ids: [Int64] = []
            for _ in 0..<5 {
                ids.append(
                    try #require(
                        daemon.buildID(
                            of: try await daemon.deliver(
                                event: "push", payload: pushPayload(branch: "b\(UUID().uuidString.prefix(6))"), secret: secret))))
            }
            for id in ids { _ = try await daemon.waitForEnd(of: id) }
            try await eventually(timeout: .seconds(30)) {
                github.statusRequests.filter { $0.status == 201 && $0.body["state"] == "success" }.count == 5
            }
            // One commit, five builds: once any success is posted for a build, nothing
            // older (pending) of that build follows; and the last word on the commit is success.
            let posted = github.statusRequests.filter { $0.status == 201 }
            for id in ids {
                let ofBuild = posted.filter { $0.body["target_url"]?.hasSuffix("/builds/\(id)") == true }.map { $0.body["state"] ?? "" }
                #expect(ofBuild.last == "success", "build \(id): \(ofBuild)")
                #expect(!ofBuild.dropLast().contains("success"), "build \(id): \(ofBuild)")
            }
            #expect(posted.last?.body["state"] == "success")
        }
    }
}
