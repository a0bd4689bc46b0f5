import Foundation
import SlipwayCore
import SlipwayStore
import SlipwayTesting
import Testing

/// Issue 15: input that would reach an operator's terminal, or a path that would leave
/// its place.
@Suite struct HostileInputTests {
    @Test func controlCharactersAreRefusedAtIntakeAndEscapedWhenStoredDataIsShown() async throws {
        _ = await blocking { TestRepository.shared }
        var env = TestSecrets.environment
        env["TEST_OPS_TOKEN"] = OperatorAPITests.token
        let step = ["sh", "-c", #"printf '\033]0;pwned\007\033[2J\033[32mgreen\033[0m\nfake\rline\n'"#]
        let daemon = try DaemonHarness(label: "escapes", environment: env) { port, state in
            testConfig(port: port, stateDirectory: state, test: step, topLevelExtra: OperatorAPITests.apiYAML)
        }
        try await daemon.run { daemon in
            let auth = [("Authorization", "Bearer \(OperatorAPITests.token)"), ("Content-Type", "application/json")]
            let head = TestRepository.head
            let viaAPI = try await daemon.request(
                "POST", "/api/v1/builds", headers: auth,
                body: Array(#"{"repository":"acme/app","ref":"main\u001b]0;x\u0007","sha":"\#(head)"}"#.utf8))
            #expect(viaAPI.status == 400 && viaAPI.text.contains("not a valid git ref name"), "\(viaAPI.text)")
            let viaPush = try await daemon.deliver(
                event: "push", payload: pushPayload(branch: "main\u{1B}[2J\nfake"), secret: TestSecrets.repository)
            #expect(viaPush.status == 400 && viaPush.text.contains("'ref' is not a valid git ref name"), "\(viaPush.text)")
            #expect(try await daemon.openStore().builds(.init()).isEmpty)

            // A build stored before refs were checked, with an escape in its ref; its test
            // step prints a title-setting sequence, a screen clear and a carriage return.
            let store = try daemon.openStore()
            let stored = try await store.enqueue(
                BuildRequest(
                    repository: "acme/app", ref: "refs/heads/\u{1B}]0;pwned\u{07}\u{1B}[2J", sha: CommitID(head)!,
                    cloneURL: TestRepository.shared.bareURL, trigger: .rebuild, deliveryID: nil),
                supersedeOlder: false)
            let wake = try #require(
                daemon.buildID(
                    of: try await daemon.deliver(event: "push", payload: pushPayload(branch: "wake"), secret: TestSecrets.repository)))
            _ = try await daemon.waitForEnd(of: wake, timeout: .seconds(60))
            _ = try await daemon.waitForEnd(of: stored.id, timeout: .seconds(60))

            let cli = try CLIProcess(environment: ["SLIPWAY_URL": daemon.baseURL, "SLIPWAY_TOKEN": OperatorAPITests.token, "NO_COLOR": "1"])
            defer { cli.removeFiles() }
            for arguments in [["builds"], ["show", "\(stored.id)"]] {
                let result = try await cli.run(arguments)
                #expect(result.status == 0 && !result.stdout.contains("\u{1B}"), "\(arguments): \(result.stdout.debugDescription)")
                #expect(
                    result.stdout.contains(#"\x1B]0;pwned\x07"#) || result.stdout.contains(#"\x1B]0;pwned"#),
                    "\(arguments): \(result.stdout)")
            }
            for arguments in [["logs", "\(stored.id)"], ["logs", "\(stored.id)", "-f"]] {
                let logs = try await cli.run(arguments)
                #expect(
                    !logs.stdout.contains("\u{1B}]") && !logs.stdout.contains("\u{1B}[2J") && !logs.stdout.contains("\r"),
                    "\(logs.stdout.debugDescription)")
                #expect(logs.stdout.contains("\u{1B}[32mgreen\u{1B}[0m"), "colour is kept")
                #expect(logs.stdout.contains(#"\x1B]0;pwned\x07\x1B[2J"#) && logs.stdout.contains("fake\nline"))
            }
            let raw = try await cli.run(["logs", "\(stored.id)", "--raw"])
            #expect(raw.stdout.contains("\u{1B}]0;pwned\u{07}"), "--raw gives the bytes as they are")
            #expect(!daemon.daemonLog().contains("\u{1B}"), "the daemon's own log escapes what it prints of stored data")
            #expect(daemon.daemonLog().contains(#"\x1B]0;pwned"#))
        }
    }

    @Test func checkConfigRefusesNamesAndPathsThatLeaveTheirPlace() async throws {
        let directory = try TestPaths.temporaryDirectory("contained-config")
        defer { TestPaths.removeTemporaryDirectory(directory) }
        let path = directory.appendingPathComponent("slipway.yaml").path
        try """
        repositories:
          - name: ../..
            webhook_secrets: [env:TEST_WEBHOOK_SECRET]
          - name: ./.
            webhook_secrets: [env:TEST_WEBHOOK_SECRET]
          - name: acme/app
            webhook_secrets: [env:TEST_WEBHOOK_SECRET]
            image: {name: localhost/acme/app, context: ../../.., dockerfile: /etc/passwd}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await blocking {
            try runProgram(
                try TestPaths.executable("slipwayd").path, ["--check-config", "--config", path],
                environment: TestSecrets.environment.merging(["PATH": "/usr/bin:/bin"]) { $1 })
        }
        #expect(result.status == 1)
        for key in ["repositories[0].name", "repositories[1].name", "repositories[2].image.context", "repositories[2].image.dockerfile"] {
            #expect(result.output.contains(key), "\(key) named: \(result.output)")
        }
    }

    /// The checkout decides where a symbolic link points, so the paths are resolved again
    /// at build time: a context, a Dockerfile or a model destination behind a link that
    /// leads out of the repository fails the build before anything is read or written there.
    @Test func symbolicLinksInTheRepositoryCannotLeadConfigPathsOut() async throws {
        let outside = try TestPaths.temporaryDirectory("outside-target")
        defer { TestPaths.removeTemporaryDirectory(outside) }
        let repository = try await blocking { try GitFixture(label: "symlinks", files: ["README.md": "links\n"]) }
        defer { repository.remove() }
        _ = try await blocking {
            try repository.commit(
                files: ["Dockerfile": "FROM scratch\n"],
                symlinks: ["app": "/", "Dockerfile.evil": "/etc/passwd", "model": outside.path], message: "links")
        }
        let models = try TestPaths.temporaryDirectory("symlink-model")
        defer { TestPaths.removeTemporaryDirectory(models) }
        try Data("weights".utf8).write(to: models.appendingPathComponent("m.onnx"))
        let daemon = try DaemonHarness(label: "symlinks", environment: TestSecrets.environment) { port, state in
            """
            server: {listen: "127.0.0.1:\(port)"}
            state_dir: \(state)
            sandbox: none
            reconcile: null
            repositories:
              - name: acme/context
                webhook_secrets: [env:TEST_WEBHOOK_SECRET]
                clone_url: \(repository.bareURL)
                test: ["true"]
                image: {name: localhost/acme/context, context: app}
              - name: acme/dockerfile
                webhook_secrets: [env:TEST_WEBHOOK_SECRET]
                clone_url: \(repository.bareURL)
                test: ["true"]
                image: {name: localhost/acme/dockerfile, dockerfile: Dockerfile.evil}
              - name: acme/model
                webhook_secrets: [env:TEST_WEBHOOK_SECRET]
                clone_url: \(repository.bareURL)
                test: ["true"]
                model: {source: "file://\(models.path)/m.onnx", dest: model/m.onnx}
            """
        }
        try await daemon.run { daemon in
            let expected = [
                "acme/context": "image: context 'app' is missing or leaves the repository",
                "acme/dockerfile": "image: Dockerfile.evil is missing from the repository or leaves it",
                "acme/model": "model: dest 'model' in 'model/m.onnx' is a symbolic link in the repository",
            ]
            for (name, reason) in expected {
                let reply = try await daemon.deliver(
                    event: "push", payload: pushPayload(repository: name, sha: repository.head), secret: TestSecrets.repository)
                let id = try #require(daemon.buildID(of: reply), "\(name): \(reply.status) \(reply.text)")
                let build = try await daemon.waitForEnd(of: id, timeout: .seconds(60))
                #expect(build.state == .failure && build.reason?.contains(reason) == true, "\(name): \(build.state) \(build.reason ?? "")")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: outside.path).isEmpty, "nothing was written behind the link")
        }
    }
}
