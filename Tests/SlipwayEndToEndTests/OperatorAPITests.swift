import AsyncHTTPClient
import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

/// The operator API over real HTTP (part of issue 6: the JSON endpoints).
@Suite struct OperatorAPITests {
    static let token = "ops-" + UUID().uuidString
    static let apiYAML = """
        api:
          tokens:
            - {name: ops-alice, token: env:TEST_OPS_TOKEN}
        """

    func withAPI(
        test: [String] = ["sh", "-c", "echo line one; echo line two; echo line three"], _ body: (DaemonHarness) async throws -> Void
    ) async throws {
        var env = TestSecrets.environment
        env["TEST_OPS_TOKEN"] = Self.token
        _ = await blocking { TestRepository.shared }
        let daemon = try DaemonHarness(label: "api", environment: env) { port, state in
            testConfig(port: port, stateDirectory: state, test: test, topLevelExtra: Self.apiYAML)
        }
        try await daemon.run(body)
    }

    func call(_ daemon: DaemonHarness, _ method: String, _ path: String, body: String? = nil, token: String? = OperatorAPITests.token)
        async throws -> DaemonHarness.Reply
    {
        var headers = [("Content-Type", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        return try await daemon.request(method, path, headers: headers, body: body.map { Array($0.utf8) })
    }

    /// A repository in git's SHA-256 object format: its 64-digit commit ids are accepted
    /// by every layer alike (a push, the API, the checkout), not accepted by one and
    /// refused by the next.
    @Test func aSHA256RepositoryIsBuiltFromAPushAndFromTheAPI() async throws {
        let repository = try await blocking {
            try GitFixture(label: "sha256", files: ["README.md": "sha-256 objects\n"], objectFormat: "sha256")
        }
        defer { repository.remove() }
        #expect(repository.head.count == 64)
        var env = TestSecrets.environment
        env["TEST_OPS_TOKEN"] = Self.token
        let daemon = try DaemonHarness(label: "api-sha256", environment: env) { port, state in
            testConfig(
                port: port, stateDirectory: state, test: ["sh", "-c", "test -f README.md && echo checked out"],
                cloneURL: repository.bareURL, topLevelExtra: Self.apiYAML)
        }
        try await daemon.run { daemon in
            let pushed = try await daemon.deliver(event: "push", payload: pushPayload(sha: repository.head), secret: TestSecrets.repository)
            let id = try #require(daemon.buildID(of: pushed), "\(pushed.text)")
            let built = try await daemon.waitForEnd(of: id)
            #expect(built.state == .success, "\(built.reason ?? "")")
            #expect(built.sha.hex == repository.head)
            let bySHA = try await call(daemon, "POST", "/api/v1/builds", body: #"{"repository": "acme/app", "sha": "\#(repository.head)"}"#)
            #expect(bySHA.status == 201, "\(bySHA.text)")
            let byRef = try await call(daemon, "POST", "/api/v1/builds", body: #"{"repository": "acme/app", "ref": "main"}"#)
            #expect(byRef.json["sha"] as? String == repository.head, "\(byRef.text)")
            let rebuilt = try #require((byRef.json["id"] as? NSNumber)?.int64Value)
            #expect(try await daemon.waitForEnd(of: rebuilt).state == .success)
        }
    }

    @Test func everyEndpointWantsTheBearerToken() async throws {
        try await withAPI { daemon in
            for (method, path) in [
                ("GET", "/api/v1/builds"), ("GET", "/api/v1/builds/1"), ("POST", "/api/v1/builds/1/cancel"),
                ("POST", "/api/v1/builds/1/rebuild"), ("GET", "/api/v1/builds/1/log"), ("POST", "/api/v1/builds"),
            ] {
                let missing = try await call(daemon, method, path, token: nil)
                let wrong = try await call(daemon, method, path, token: "wrong")
                #expect(missing.status == 401 && wrong.status == 401, "\(method) \(path)")
            }
            #expect(!daemon.daemonLog().contains(Self.token))
        }
    }

    @Test func listShowLogRebuildAndCreate() async throws {
        try await withAPI { daemon in
            let id = try #require(
                daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: TestSecrets.repository)))
            #expect(try await daemon.waitForEnd(of: id).state == .success)

            let list = try await call(daemon, "GET", "/api/v1/builds?repository=acme/app&limit=10")
            #expect(list.status == 200)
            #expect((list.json["builds"] as? [[String: Any]])?.first?["id"] as? Int == Int(id))
            #expect(try await call(daemon, "GET", "/api/v1/builds?state=done").status == 400)
            #expect(try await call(daemon, "GET", "/api/v1/builds?limit=0").status == 400)

            let detail = try await call(daemon, "GET", "/api/v1/builds/\(id)")
            #expect(detail.status == 200)
            #expect((detail.json["steps"] as? [[String: Any]])?.map { $0["name"] as? String } == ["checkout", "test"])
            #expect(try await call(daemon, "GET", "/api/v1/builds/999").status == 404)

            let tail = try await call(daemon, "GET", "/api/v1/builds/\(id)/log?tail=3")
            #expect(tail.status == 200)
            #expect(tail.text.split(separator: "\n").count == 3)
            #expect(try await call(daemon, "GET", "/api/v1/builds/\(id)/log").text.contains("line two"))

            let rebuild = try await call(daemon, "POST", "/api/v1/builds/\(id)/rebuild")
            #expect(rebuild.status == 201)
            let rebuilt = try #require((rebuild.json["id"] as? NSNumber)?.int64Value)
            let again = try await daemon.waitForEnd(of: rebuilt)
            #expect(again.trigger == .rebuild && again.sha.hex == TestRepository.head && again.state == .success)

            let byRef = try await call(daemon, "POST", "/api/v1/builds", body: #"{"repository": "acme/app", "ref": "main"}"#)
            #expect(byRef.status == 201, "\(byRef.text)")
            #expect(byRef.json["sha"] as? String == TestRepository.head, "the ref's head, from git ls-remote")
            let bySHA = try await call(
                daemon, "POST", "/api/v1/builds",
                body: #"{"repository": "acme/app", "sha": "\#(TestRepository.head)", "ref": "refs/heads/main"}"#)
            #expect(bySHA.status == 201)
            #expect(try await call(daemon, "POST", "/api/v1/builds", body: #"{"repository": "acme/nope"}"#).status == 400)
            #expect(try await call(daemon, "POST", "/api/v1/builds", body: #"{"repository": "acme/app", "sha": "xyz"}"#).status == 400)
            #expect(try await call(daemon, "POST", "/api/v1/builds", body: "not json").status == 400)
            #expect(daemon.daemonLog().contains("token=ops-alice"), "the token's name is logged with the action")
        }
    }

    @Test func cancelStopsARunningBuildAndRefusesAFinishedOne() async throws {
        try await withAPI(test: ["sleep", "60"]) { daemon in
            let id = try #require(
                daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: TestSecrets.repository)))
            let store = try daemon.openStore()
            try await eventually { try await store.steps(buildID: id).contains { $0.name == "test" } }
            let reply = try await call(daemon, "POST", "/api/v1/builds/\(id)/cancel")
            #expect(reply.status == 202)
            let build = try await daemon.waitForEnd(of: id)
            #expect(build.state == .canceled)
            #expect(build.reason == "canceled by ops-alice")
            #expect(try await call(daemon, "POST", "/api/v1/builds/\(id)/cancel").status == 409)
            #expect(try await call(daemon, "POST", "/api/v1/builds/999/cancel").status == 404)
        }
    }
}

/// `GET /api/v1/builds/{id}/log?follow=true` with two followers at once.
@Suite struct LogFollowTests {
    @Test func followersSeeLinesBeforeTheBuildEndsAndTheStreamEndsWithIt() async throws {
        var env = TestSecrets.environment
        env["TEST_OPS_TOKEN"] = OperatorAPITests.token
        _ = await blocking { TestRepository.shared }
        // The step prints a line, then waits until both followers have seen it: a line that
        // comes before the build ends is the subject, however slow the machine is.
        let gate = try TestPaths.temporaryDirectory("follow-gate")
        defer { TestPaths.removeTemporaryDirectory(gate) }
        let go = gate.appendingPathComponent("GO").path
        let seen = SharedCount()
        let daemon = try DaemonHarness(label: "follow", environment: env) { port, state in
            testConfig(
                port: port, stateDirectory: state,
                test: ["sh", "-c", "printf 'first-%s\\n' line; while [ ! -f \(go) ]; do sleep 0.05; done; printf 'second-%s\\n' line"],
                // The gate file is outside the workspace, where sandboxed code cannot look.
                topLevelExtra: OperatorAPITests.apiYAML + "\nsandbox: none")
        }
        try await daemon.run { daemon in
            let id = try #require(
                daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: TestSecrets.repository)))
            let store = try daemon.openStore()
            // Two followers at once.
            try await withThrowingTaskGroup(of: (sawFirstWhileRunning: Bool, text: String).self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        var request = HTTPClientRequest(url: daemon.baseURL + "/api/v1/builds/\(id)/log?follow=true")
                        request.headers.add(name: "Authorization", value: "Bearer \(OperatorAPITests.token)")
                        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                        var text = ""
                        var sawFirstWhileRunning = false
                        for try await chunk in response.body {
                            let before = text.contains("first-line")
                            text += String(buffer: chunk)
                            if !before, text.contains("first-line") {
                                sawFirstWhileRunning = try await store.build(id: id)?.state == .running
                                if seen.increment() == 2 { _ = FileManager.default.createFile(atPath: go, contents: nil) }
                            }
                        }
                        return (sawFirstWhileRunning, text)
                    }
                }
                for try await (sawFirstWhileRunning, text) in group {
                    #expect(sawFirstWhileRunning, "the first line arrived before the build ended")
                    #expect(text.contains("second-line") && text.contains("build success"), "\(text)")
                }
            }
            #expect(try await store.build(id: id)?.state == .success)
        }
    }
}
