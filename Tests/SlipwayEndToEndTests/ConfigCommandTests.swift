import Foundation
import SlipwayTesting
import Testing

/// `slipwayd --check-config` and SIGHUP reloads, with the real executable.
@Suite struct ConfigCommandTests {
    struct Outcome { let status: Int32; let output: String }

    func checkConfig(_ yaml: String, environment: [String: String] = TestSecrets.environment) async throws -> Outcome {
        let directory = try TestPaths.temporaryDirectory("check-config")
        defer { TestPaths.removeTemporaryDirectory(directory) }
        let path = directory.appendingPathComponent("slipway.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return try await run(["--check-config", "--config", path], in: directory, environment: environment)
    }

    /// slipwayd with `arguments`, off the cooperative pool (it takes seconds on a busy
    /// machine, and the suite's other tests need the pool's few threads meanwhile).
    func run(_ arguments: [String], in directory: URL, environment: [String: String]) async throws -> Outcome {
        let result = try await blocking {
            try runProgram(
                try TestPaths.executable("slipwayd").path, arguments,
                environment: environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }, in: directory)
        }
        return Outcome(status: result.status, output: result.output)
    }

    @Test func theExampleConfigPasses() async throws {
        // The example reads its secrets from ./.slipway/secrets, as scripts/run-daemon creates them.
        let directory = try TestPaths.temporaryDirectory("example")
        defer { TestPaths.removeTemporaryDirectory(directory) }
        let secrets = directory.appendingPathComponent(".slipway/secrets")
        try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: true)
        try "hook-secret\n".write(to: secrets.appendingPathComponent("webhook-secret"), atomically: true, encoding: .utf8)
        try "ops-token\n".write(to: secrets.appendingPathComponent("ops-token"), atomically: true, encoding: .utf8)
        let example = TestPaths.packageRoot.appendingPathComponent("config/slipway.yaml").path
        let outcome = try await run(["--check-config", "--config", example], in: directory, environment: [:])
        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(outcome.output.contains("OK"))
    }

    @Test func provenanceKeysAreCheckedAndAnUnusablePasswordIsNotLookedUp() async throws {
        let keys = try TestPaths.temporaryDirectory("check-config-keys")
        defer { TestPaths.removeTemporaryDirectory(keys) }
        let (rsa, p256) = try await blocking {
            let rsa = try ProvenanceReferenceTests.keyPair(
                ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], in: keys, name: "rsa")
            return (rsa.publicPath, try ProvenanceReferenceTests.keyPair(ProvenanceReferenceTests.p256, in: keys, name: "p256"))
        }
        let rsaKey = keys.appendingPathComponent("rsa.key").path
        let config = testConfig(
            port: 8080, stateDirectory: "/tmp/unused",
            appRepositoryExtra: """
                    image: {name: registry.local/acme/app}
                    deploy:
                      kubeconfig: "file:\(rsaKey)"
                      deployment: app
                      container: app
                      require_provenance: {key: "file:\(rsa)"}
                """,
            topLevelExtra: """
                provenance: {signing_key: "file:\(rsaKey)", key_id: slipway}
                database_password: env:PGPASSWORD
                """)
        let outcome = try await checkConfig(config)
        #expect(outcome.status == 1)
        #expect(
            outcome.output.contains("provenance.signing_key: file:\(rsaKey): neither an ECDSA P-256 nor an Ed25519 key"),
            "\(outcome.output)")
        #expect(outcome.output.contains("repositories[3].deploy.require_provenance.key: file:\(rsa): neither"), "\(outcome.output)")
        #expect(!outcome.output.contains("PRIVATE KEY"), "the key is never shown")
        #expect(!outcome.output.contains("database_password"), "PostgreSQL's password is not used, nor looked up, with sqlite")
        let good = try await checkConfig(
            testConfig(
                port: 8080, stateDirectory: "/tmp/unused",
                topLevelExtra: "provenance: {signing_key: \"file:\(keys.appendingPathComponent("p256.key").path)\"}", reconcile: "10m"))
        #expect(good.status == 0, "\(good.output) \(p256)")
    }

    @Test func theSandboxIsTriedForADaemonOfAnOrdinaryUser() async throws {
        // As root the code runs as a uid of its own; as an ordinary user, bwrap needs user namespaces.
        let directory = try TestPaths.temporaryDirectory("check-config-user")
        defer { TestPaths.removeTemporaryDirectory(directory) }
        let path = directory.appendingPathComponent("slipway.yaml").path
        try testConfig(port: 8080, stateDirectory: directory.appendingPathComponent("state").path).write(
            toFile: path, atomically: true, encoding: .utf8)
        let result = try await blocking {
            _ = try runProgram("/bin/chown", ["-R", "4242:4242", directory.path])
            return try runProgram(
                "/usr/bin/setpriv",
                [
                    "--reuid=4242", "--regid=4242", "--clear-groups", "--",
                    try TestPaths.executable("slipwayd").path, "--check-config", "--config", path,
                ],
                environment: TestSecrets.environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }, in: directory)
        }
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("OK"))
    }

    @Test func aGoodConfigExitsZero() async throws {
        let outcome = try await checkConfig(testConfig(port: 8080, stateDirectory: "/tmp/unused"))
        #expect(outcome.status == 0, "\(outcome.output)")
    }

    @Test func everyKindOfProblemIsNamedWithItsKeyPath() async throws {
        let outcome = try await checkConfig(
            """
            server:
              listen: nowhere
              max_body_bytes: lots
              colour: blue
            queue: {workers: 0, cancel_superseded: perhaps}
            database: mysql://db
            api:
              tokens:
                - {name: ops, token: plain-text-token-value}
            repositories:
              - name: acme/app
                webhook_secrets: [env:UNSET_SECRET_FOR_TEST]
                branches: "main"
                timeout: 10 minutes
                image: {name: r/app, builder: kaniko}
            """, environment: [:])
        #expect(outcome.status == 1)
        for path in [
            "server.listen", "server.max_body_bytes", "server.colour", "queue.workers", "queue.cancel_superseded",
            "database", "api.tokens[0].token", "repositories[0].branches", "repositories[0].timeout",
            "repositories[0].image.builder",
        ] {
            #expect(outcome.output.contains(path), "\(path) not named in:\n\(outcome.output)")
        }
        #expect(!outcome.output.contains("plain-text-token-value"), "a literal secret was echoed")
    }

    @Test func anUnresolvableSecretIsNamedWithItsKeyPath() async throws {
        let outcome = try await checkConfig(testConfig(port: 8080, stateDirectory: "/tmp/unused"), environment: [:])
        #expect(outcome.status == 1)
        #expect(outcome.output.contains("webhook_secrets[0]"), "\(outcome.output)")
        #expect(outcome.output.contains("TEST_ORG_SECRET"), "\(outcome.output)")
    }

    /// Issue 18: a PostgreSQL URL with its password in `database_password`; the password
    /// is looked up like any secret (and only for PostgreSQL: SQLite ignores the key).
    @Test func aPostgresDatabaseNeedsItsPasswordAndNeverInTheURL() async throws {
        let config = testConfig(port: 8080, stateDirectory: "/tmp/unused")
            .replacingOccurrences(
                of: "database: sqlite",
                with: "database: postgres://slipway@db/slipway?sslmode=disable\ndatabase_password: env:TEST_PG_PASSWORD")
        let missing = try await checkConfig(config)
        #expect(missing.status == 1)
        #expect(missing.output.contains("database_password") && missing.output.contains("TEST_PG_PASSWORD"), "\(missing.output)")
        let given = try await checkConfig(
            config, environment: TestSecrets.environment.merging(["TEST_PG_PASSWORD": "pg-secret-xyz"]) { $1 })
        #expect(given.status == 0, "\(given.output)")
        #expect(!given.output.contains("pg-secret-xyz"))
        let sqlite = try await checkConfig(
            testConfig(port: 8080, stateDirectory: "/tmp/unused")
                .replacingOccurrences(of: "database: sqlite", with: "database: sqlite\ndatabase_password: env:TEST_PG_PASSWORD"))
        #expect(sqlite.status == 0, "\(sqlite.output)")

        // A password typed into the URL is refused by name and never repeated.
        let withPassword = try await checkConfig(
            testConfig(port: 8080, stateDirectory: "/tmp/unused")
                .replacingOccurrences(of: "database: sqlite", with: "database: postgres://slipway:hunter2-xyz@db/slipway?sslmode=disable"))
        #expect(withPassword.status == 1)
        #expect(withPassword.output.contains("database_password"), "\(withPassword.output)")
        #expect(!withPassword.output.contains("hunter2-xyz"), "\(withPassword.output)")
    }

    @Test func aMissingFileAndInvalidYAMLAreReported() async throws {
        let missing = try await run(
            ["--check-config", "--config", "/nonexistent/slipway.yaml"], in: URL(fileURLWithPath: "/tmp"), environment: [:])
        #expect(missing.status == 1)
        #expect(missing.output.contains("/nonexistent/slipway.yaml"))
        let invalid = try await checkConfig("server: [unclosed\n")
        #expect(invalid.status == 1)
        #expect(!invalid.output.isEmpty)
    }

    @Test func sighupAppliesAGoodConfigAndKeepsTheOldOneWhenTheNewIsBad() async throws {
        try await withDaemon("sighup") { daemon in
            let secret = TestSecrets.repository
            let original = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
            // acme/other is not configured yet.
            let before = try await daemon.deliver(
                event: "push", payload: pushPayload(repository: "acme/other"), secret: TestSecrets.organization)
            #expect(before.json["ignored"] != nil)

            try daemon.writeConfig(
                original + """
                      - name: acme/other
                        webhook_secrets: [env:TEST_WEBHOOK_SECRET]
                        branches: ["**"]
                        test: [true]

                    """)
            daemon.signal(SIGHUP)
            try await eventually { daemon.daemonLog().contains("config reloaded") }
            let after = try await daemon.deliver(event: "push", payload: pushPayload(repository: "acme/other"), secret: secret)
            #expect(after.status == 202, "\(after.text)")
            #expect(after.json["state"] as? String == "queued")

            try daemon.writeConfig("queue: {workers: many}\n")
            daemon.signal(SIGHUP)
            try await eventually { daemon.daemonLog().contains("config reload refused") }
            #expect(daemon.daemonLog().contains("queue.workers"))
            let still = try await daemon.deliver(event: "push", payload: pushPayload(repository: "acme/other"), secret: secret)
            #expect(still.status == 202, "the previous config stays in force: \(still.text)")
            #expect(daemon.isRunning)
        }
    }
}
