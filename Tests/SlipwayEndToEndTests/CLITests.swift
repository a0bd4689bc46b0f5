import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

/// The real `slipway` binary against a real daemon: every command, its tables and
/// `--json`, and its exit codes (0 done, 1 unreachable, 2 refused, 3 not found,
/// 4 unauthorized, 5 followed build did not succeed, 64 usage).
@Suite struct CLITests {
    @Test func everyCommandAgainstARunningDaemon() async throws {
        let gate = try TestPaths.temporaryDirectory("cli-gate")
        defer { TestPaths.removeTemporaryDirectory(gate) }
        let go = gate.appendingPathComponent("GO").path, fail = gate.appendingPathComponent("FAIL").path
        // Each build prints a line, waits for GO, prints another, and fails while FAIL exists.
        // (printf, so the command line the log shows does not itself contain the lines looked for.)
        let step = [
            "sh", "-c",
            "printf 'first-%s\\n' line; while [ ! -f \(go) ]; do sleep 0.05; done; printf 'second-%s\\n' line; test ! -f \(fail)",
        ]
        var env = TestSecrets.environment
        env["TEST_OPS_TOKEN"] = OperatorAPITests.token
        _ = await blocking { TestRepository.shared }
        let daemon = try DaemonHarness(label: "cli", environment: env) { port, state in
            // The steps wait for files of the test's, outside their workspaces: unsandboxed.
            testConfig(port: port, stateDirectory: state, test: step, topLevelExtra: OperatorAPITests.apiYAML + "\nsandbox: none")
        }
        try await daemon.run { daemon in
            let cli = try CLIProcess(environment: [
                "SLIPWAY_URL": daemon.baseURL, "SLIPWAY_TOKEN": OperatorAPITests.token, "HOOK_SECRET": TestSecrets.repository,
                "NO_COLOR": "1",
            ])
            defer { cli.removeFiles() }
            let store = try daemon.openStore()
            let head = TestRepository.head

            // deliver: a signed sample push; the daemon queues build 1.
            let delivered = try await cli.run(["deliver", "--repository", "acme/app", "--sha", head, "--secret", "env:HOOK_SECRET"])
            #expect(delivered.status == 0, "\(delivered.stderr)")
            #expect(delivered.stdout.contains("HTTP 202") && delivered.stdout.contains(#""build":1"#), "\(delivered.stdout)")

            // logs -f: the first line arrives while the build still runs, the rest when it ends.
            let follower = try cli.start(["logs", "1", "-f"])
            try await eventually(timeout: .seconds(30)) { follower.stdoutSoFar().contains("first-line") }
            #expect(try await store.build(id: 1)?.state == .running, "the line came before the build ended")
            #expect(!follower.stdoutSoFar().contains("second-line"))
            _ = FileManager.default.createFile(atPath: go, contents: nil)
            let followed = await blocking { follower.wait() }
            #expect(followed.status == 0, "\(followed.stderr)")
            #expect(followed.stdout.contains("second-line") && followed.stdout.contains("build success"), "\(followed.stdout)")

            // builds: a table by default, the API's JSON with --json.
            let table = try await cli.run(["builds"])
            #expect(table.status == 0)
            let lines = table.stdout.split(separator: "\n")
            #expect(
                lines.first?.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                    == ["ID", "REPOSITORY", "BRANCH", "SHA", "STATE", "TRIGGER", "CREATED", "DURATION", "MODEL"], "\(table.stdout)")
            let row = lines.dropFirst().first.map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) } ?? []
            #expect(Array(row.prefix(6)) == ["1", "acme/app", "main", String(head.prefix(7)), "success", "push"], "\(table.stdout)")
            let json = try await cli.run(["builds", "--json", "--repository", "acme/app"])
            let list = try JSONDecoder().decode(BuildList.self, from: Data(json.stdout.utf8))
            #expect(list.builds.map(\.id) == [1])

            // show: fields and the steps table; --json has the steps.
            let shown = try await cli.run(["show", "1"])
            #expect(shown.status == 0)
            #expect(shown.stdout.contains("commit      \(head)") && shown.stdout.contains("trigger     push (delivery "), "\(shown.stdout)")
            #expect(
                shown.stdout.contains("STEP") && shown.stdout.range(of: #"test\s+1\s+success\s+0"#, options: .regularExpression) != nil,
                "\(shown.stdout)")
            let detail = try JSONDecoder().decode(BuildJSON.self, from: Data(try await cli.run(["show", "1", "--json"]).stdout.utf8))
            #expect(detail.steps?.map(\.name) == ["checkout", "test"])

            // logs --tail.
            let tail = try await cli.run(["logs", "1", "--tail", "2"])
            #expect(tail.status == 0 && tail.stdout.split(separator: "\n").count == 2, "\(tail.stdout)")

            // rebuild by ref (head from ls-remote) and of a build, failing this time: logs -f exits 5.
            _ = FileManager.default.createFile(atPath: fail, contents: nil)
            let byRef = try await cli.run(["rebuild", "acme/app", "--ref", "main"])
            #expect(
                byRef.status == 0 && byRef.stdout.hasPrefix("build #2 queued: acme/app refs/heads/main at \(head.prefix(7))"),
                "\(byRef.stdout)\(byRef.stderr)")
            let failing = try await cli.run(["logs", "2", "-f"])
            #expect(failing.status == 5 && failing.stderr.contains("build 2 ended failure"), "\(failing.stderr)")
            let again = try await cli.run(["rebuild", "--build", "1", "--json"])
            #expect(try JSONDecoder().decode(BuildJSON.self, from: Data(again.stdout.utf8)).trigger == "rebuild")

            // cancel: a running build (its follower then exits 5), a finished one is refused (409 → 2).
            _ = try await daemon.waitForEnd(of: 3)
            try FileManager.default.removeItem(atPath: go)
            _ = try await cli.run(["rebuild", "--build", "1"])
            try await eventually(timeout: .seconds(30)) { try await store.build(id: 4)?.state == .running }
            let canceled = try await cli.run(["cancel", "4"])
            #expect(canceled.status == 0 && canceled.stdout == "cancel of build #4 requested\n")
            let followCanceled = try await cli.run(["logs", "4", "-f"])
            #expect(
                followCanceled.status == 5 && followCanceled.stderr.contains("ended canceled: canceled by ops-alice"),
                "\(followCanceled.stderr)")
            let refused = try await cli.run(["cancel", "1"])
            #expect(refused.status == 2 && refused.stderr.contains("only queued or running builds can be canceled"), "\(refused.stderr)")

            // Errors: not found 3, bad body 2, wrong token 4, no token 64, unreachable 1, wrong webhook secret 4.
            let missing = try await cli.run(["show", "999"])
            #expect(missing.status == 3 && missing.stderr.contains("no such build"), "\(missing.stderr)")
            let unknown = try await cli.run(["rebuild", "acme/nope"])
            #expect(unknown.status == 2 && unknown.stderr.contains("repository acme/nope is not configured"), "\(unknown.stderr)")
            let wrongToken = try await cli.run(["builds", "--token", "wrong"])
            #expect(wrongToken.status == 4 && wrongToken.stderr.contains("missing or wrong bearer token"))
            let tokenless = try CLIProcess(environment: ["SLIPWAY_URL": daemon.baseURL])
            defer { tokenless.removeFiles() }
            let noToken = try await tokenless.run(["builds"])
            #expect(noToken.status == 64 && noToken.stderr.contains("no operator token"), "\(noToken.stderr)")
            let unreachable = try await cli.run(["builds", "--url", "http://127.0.0.1:\(freeLoopbackPort())"])
            #expect(unreachable.status == 1 && unreachable.stderr.contains("cannot reach"), "\(unreachable.stderr)")
            let wrongSecret = try CLIProcess(environment: ["SLIPWAY_URL": daemon.baseURL, "HOOK_SECRET": "not-the-secret"])
            defer { wrongSecret.removeFiles() }
            let badSecret = try await wrongSecret.run(["deliver", "--repository", "acme/app", "--sha", head, "--secret", "env:HOOK_SECRET"])
            #expect(badSecret.status == 4, "\(badSecret.stdout)\(badSecret.stderr)")
            let literal = try await cli.run(["deliver", "--repository", "acme/app", "--sha", head, "--secret", TestSecrets.repository])
            #expect(literal.status == 64 && !literal.stderr.contains(TestSecrets.repository), "a literal secret is refused, not echoed")

            // deliver a fixture file as is.
            let fixture = TestPaths.fixtures.appendingPathComponent("github-webhooks/push/with-new-branch.payload.json").path
            let sent = try await cli.run(["deliver", "--payload", fixture, "--secret", "env:HOOK_SECRET"])
            #expect(sent.status == 0 && sent.stdout.contains("HTTP 202"), "\(sent.stdout)\(sent.stderr)")
            #expect(!daemon.daemonLog().contains(OperatorAPITests.token))
        }
    }
}
