import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

@Suite struct ConfigParserTests {
    func problems(_ yaml: String) -> [ConfigProblem] {
        do {
            _ = try ConfigParser.parse(yaml: yaml)
            return []
        } catch {
            return error.problems
        }
    }

    func paths(_ yaml: String) -> [String] { problems(yaml).map(\.path) }

    let minimalRepository = """
        repositories:
          - name: acme/app
            webhook_secrets: [env:HOOK]
        """

    @Test func exampleConfigParsesWithTheSpecDefaults() throws {
        let text = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("config/slipway.yaml"), encoding: .utf8)
        let config = try ConfigParser.parse(yaml: text)
        #expect(config.server.maxBodyBytes == 26_214_400)
        #expect(config.database == .sqlite)
        #expect(config.repositories.first?.name == "acme/model-app")
        #expect(config.repositories.first?.branches == ["main", "release/*"])
    }

    @Test func specExampleParses() throws {
        // The full example of ../shared/SPEC.md, every section.
        let spec = try String(contentsOf: TestPaths.fixtures.deletingLastPathComponent().appendingPathComponent("SPEC.md"), encoding: .utf8)
        let start = try #require(spec.range(of: "```yaml\n"))
        let end = try #require(spec.range(of: "```", range: start.upperBound..<spec.endIndex))
        let yaml = String(spec[start.upperBound..<end.lowerBound])
        let config = try ConfigParser.parse(yaml: yaml)
        let repository = try #require(config.repositories.first)
        #expect(repository.test == ["python3", "-m", "pytest", "-q"])
        #expect(repository.timeout == .seconds(1800))
        #expect(repository.model?.source == "s3://models/resnet/latest/model.onnx")
        #expect(repository.model?.watch == .seconds(300))
        #expect(repository.image?.tags == ["{sha}", "{branch}"])
        #expect(repository.deploy?.schedule == "0 2 * * *")
        #expect(repository.webhookSecrets == [.environment("WEBHOOK_SECRET"), .environment("WEBHOOK_SECRET_PREVIOUS")])
        #expect(config.github?.auth == .token(.environment("GITHUB_TOKEN")))
    }

    @Test func unknownKeysAreErrorsAtEveryLevel() {
        #expect(paths("colour: blue\n" + minimalRepository) == ["colour"])
        #expect(paths("server: {listen: 127.0.0.1:1, lsiten: x}\n" + minimalRepository) == ["server.lsiten"])
        #expect(paths(minimalRepository + "\n    image: {name: r/x, tgas: [a]}") == ["repositories[0].image.tgas"])
    }

    @Test func wrongTypesNameTheKeyAndTheValue() {
        let found = problems(
            """
            server: {max_body_bytes: lots, public_pages: maybe}
            queue: {workers: 0, lease: 1s}
            """ + "\n" + minimalRepository)
        #expect(found.map(\.path) == ["server.max_body_bytes", "server.public_pages", "queue.workers", "queue.lease"])
        #expect(found[0].message.contains("'lots'"))
        #expect(found[2].message.contains("between 1 and 256"))
        #expect(found[3].message.contains("from 3s to 1h"))
    }

    /// Scalars are read as YAML 1.1 types by the parser itself (Yams' regex resolver is
    /// not used): the boolean words in plain style, numbers with `_` separators, `~` and
    /// `null` as absent; the same words quoted are strings.
    @Test func scalarsAreTypedLikeYAML11() throws {
        let config = try ConfigParser.parse(
            yaml: """
                server: {listen: 127.0.0.1:1, public_pages: Yes, max_body_bytes: 1_048_576}
                queue: {cancel_superseded: off, workers: 3, keep_workspaces: ~}
                """ + "\n" + minimalRepository)
        #expect(config.server.publicPages == true)
        #expect(config.server.maxBodyBytes == 1_048_576)
        #expect(config.queue.cancelSuperseded == false)
        #expect(config.queue.workers == 3)
        #expect(config.queue.lease == .seconds(30))
        let quoted = problems(
            """
            server: {public_pages: "true", max_body_bytes: '2048'}
            queue: {cancel_superseded: FALSE}
            """ + "\n" + minimalRepository)
        #expect(quoted.map(\.path) == ["server.max_body_bytes", "server.public_pages"])
        #expect(quoted[1].message.contains("'true'"))
    }
    @Test func literalSecretsAreRefusedWithoutEchoingThem() {
        let found = problems(
            """
            api:
              tokens: [{name: ops, token: hunter2-literal}]
            """ + "\n" + minimalRepository)
        #expect(found.map(\.path) == ["api.tokens[0].token"])
        #expect(!found[0].description.contains("hunter2"))
    }

    @Test func badValuesAreReportedWithTheirPaths() {
        let found = paths(
            """
            server: {listen: "nope", public_url: "ftp://x"}
            database: mysql://x
            log_level: loud
            repositories:
              - name: not-a-repo
                webhook_secrets: [env:HOOK, literal]
                clone_url: "not a url"
                branches: ["release/[a"]
                timeout: forever
                model: {source: "gs://bucket/x", dest: "/etc/passwd", sha256: "abc"}
                image: {name: r/x, builder: kaniko, tags: ["{sha", "{nope}"]}
                deploy: {schedule: "daily", kubeconfig: file:/k, deployment: d, container: c}
            """)
        #expect(
            found == [
                "server.listen", "server.public_url", "database", "log_level",
                "repositories[0].name", "repositories[0].webhook_secrets[1]", "repositories[0].clone_url",
                "repositories[0].branches[0]", "repositories[0].timeout",
                "repositories[0].model.source", "repositories[0].model.dest", "repositories[0].model.sha256",
                "repositories[0].image.builder", "repositories[0].image.tags[0]", "repositories[0].image.tags[1]",
                "repositories[0].deploy.schedule",
            ])
    }

    @Test func missingRequiredKeysAreNamed() {
        #expect(paths("repositories:\n  - webhook_secrets: [env:A]") == ["repositories[0].name"])
        #expect(paths(minimalRepository + "\n    model: {source: s3://b/k}") == ["repositories[0].model.dest"])
        #expect(paths("github: {status_context: x}\n" + minimalRepository) == ["github"])
        #expect(paths("repositories:\n  - name: acme/app") == ["repositories[0].webhook_secrets"])
    }

    @Test func repositoriesAreUnique() {
        #expect(
            paths(
                """
                webhook_secrets: [env:ORG]
                repositories:
                  - name: acme/app
                  - name: ACME/app
                """) == ["repositories[1].name"])
    }

    @Test func invalidYAMLIsOneProblem() {
        let found = problems("server: [unclosed")
        #expect(found.count == 1)
        #expect(found[0].message.hasPrefix("not valid YAML"))
    }

    @Test(arguments: [("90s", 90_000), ("30m", 1_800_000), ("2h", 7_200_000), ("1h30m", 5_400_000), ("500ms", 500), ("1d", 86_400_000)])
    func durationsParse(text: String, milliseconds: Int64) {
        #expect(DurationText.parse(text) == .milliseconds(milliseconds))
    }

    @Test(arguments: ["", "90", "m", "1x", "1.5h", "-1s", "1h30"])
    func badDurationsAreRefused(text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func secretsResolveOrNameTheKeyThatReferencesThem() throws {
        let config = try ConfigParser.parse(
            yaml: """
                api:
                  tokens: [{name: ops, token: env:OPS}]
                webhook_secrets: [file:/nonexistent/secret]
                repositories:
                  - name: acme/app
                    webhook_secrets: [env:HOOK]
                """)
        let source = DictionarySecretSource(values: ["env:OPS": "t0ken", "env:HOOK": ""])
        #expect(throws: ConfigError.self) { try ResolvedConfig(config: config, source: source) }
        do {
            _ = try ResolvedConfig(config: config, source: source)
        } catch {
            #expect(error.problems.map(\.path) == ["webhook_secrets[0]", "repositories[0].webhook_secrets[0]"])
            #expect(!error.description.contains("t0ken"))
        }
    }
}

/// Config paths that would leave their place, and the server's connection limits.
@Suite struct ConfigContainmentTests {
    func problemPaths(_ yaml: String) -> [String] { ConfigParserTests().paths(yaml) }

    @Test func repositoryNamesAndImagePathsMustStayInPlace() {
        let found = problemPaths(
            """
            repositories:
              - name: ../..
                webhook_secrets: [env:HOOK]
              - name: ./.
                webhook_secrets: [env:HOOK]
              - name: acme/app
                webhook_secrets: [env:HOOK]
                image: {name: registry.example/acme/app, context: ../../.., dockerfile: /etc/passwd}
              - name: acme/model
                webhook_secrets: [env:HOOK]
                model: {source: "https://models.example/m.onnx", dest: "model/../../../etc/m"}
            """)
        #expect(
            found == [
                "repositories[0].name", "repositories[1].name", "repositories[2].image.dockerfile",
                "repositories[2].image.context", "repositories[3].model.dest",
            ])
    }

    @Test func connectionLimitsAreRead() throws {
        let config = try ConfigParser.parse(
            yaml: """
                server: {listen: "127.0.0.1:9000", max_connections: 64, header_timeout: 5s, body_timeout: 20s, idle_timeout: 30s}
                repositories: []
                """)
        #expect(config.server.maxConnections == 64)
        #expect(
            config.server.headerTimeout == .seconds(5) && config.server.bodyTimeout == .seconds(20)
                && config.server.idleTimeout == .seconds(30))
        #expect(problemPaths("server: {max_connections: 2}\nrepositories: []") == ["server.max_connections"])
    }
}
