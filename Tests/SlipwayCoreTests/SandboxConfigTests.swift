import SlipwayCore
import Testing

@Suite struct SandboxConfigTests {
    func parse(_ yaml: String) throws -> Config { try ConfigParser.parse(yaml: yaml) }

    func problems(_ yaml: String) -> [String] {
        do {
            _ = try ConfigParser.parse(yaml: yaml)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    static let repositories = """
        repositories:
          - name: acme/trusted
            webhook_secrets: [env:HOOK]
            sandbox: none
          - name: acme/offline
            webhook_secrets: [env:HOOK]
            sandbox_network: false
            limits: {pids: 64}
          - name: acme/plain
            webhook_secrets: [env:HOOK]
        """

    @Test func buildCodeIsSandboxedByDefaultWithTheSpecLimits() throws {
        let config = try parse(Self.repositories)
        #expect(
            config.sandbox
                == SandboxConfig(
                    kind: .bubblewrap, network: true,
                    limits: StepLimits(memoryBytes: 4 << 30, pids: 512, openFiles: 4096)))
        let plain = try #require(config.repository(named: "acme/plain"))
        #expect(config.sandbox(for: plain) == config.sandbox)
        #expect(config.usesBubblewrap)
    }

    @Test func aRepositoryOverridesOnlyWhatItNames() throws {
        let config = try parse(
            """
            sandbox: bubblewrap
            sandbox_network: true
            limits: {memory: 2GiB, pids: 256, open_files: 1024}
            """ + "\n" + Self.repositories)
        let trusted = config.sandbox(for: try #require(config.repository(named: "acme/trusted")))
        #expect(trusted.kind == SandboxKind.none)
        #expect(trusted.limits == StepLimits(memoryBytes: 2 << 30, pids: 256, openFiles: 1024))
        let offline = config.sandbox(for: try #require(config.repository(named: "acme/offline")))
        #expect(offline.kind == .bubblewrap && !offline.network)
        #expect(offline.limits == StepLimits(memoryBytes: 2 << 30, pids: 64, openFiles: 1024))
    }

    @Test func noSandboxAnywhereNeedsNoBubblewrap() throws {
        let config = try parse("sandbox: none\n" + Self.repositories)
        #expect(!config.usesBubblewrap)
    }

    @Test func badSandboxValuesNameTheKeyAndTheValue() {
        let found = problems(
            """
            sandbox: docker
            sandbox_network: sometimes
            limits: {memory: 4 gigs, pids: 0, open_files: 10, cpu: 2}
            repositories:
              - name: acme/app
                webhook_secrets: [env:HOOK]
                limits: {memory: 1KiB}
            """)
        #expect(found.contains { $0.hasPrefix("sandbox: must be bubblewrap or none") && $0.contains("'docker'") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("sandbox_network: must be true or false") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("limits.memory: must be a size like 4GiB") && $0.contains("'4 gigs'") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("limits.pids: must be between 8 and") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("limits.open_files: must be between 16 and") }, "\(found)")
        #expect(found.contains("limits.cpu: unknown key"), "\(found)")
        #expect(found.contains { $0.hasPrefix("repositories[0].limits.memory: must be between") }, "\(found)")
    }

    @Test func sizesTakeBinaryAndDecimalUnits() {
        #expect(ByteSizeText.parse("1048576") == 1_048_576)
        #expect(ByteSizeText.parse("4GiB") == 4 << 30)
        #expect(ByteSizeText.parse("4G") == 4 << 30)
        #expect(ByteSizeText.parse("512MiB") == 512 << 20)
        #expect(ByteSizeText.parse("100MB") == 100_000_000)
        #expect(ByteSizeText.parse("2 KiB") == 2048)
        for bad in ["", "GiB", "4gib", "4.5GiB", "-1", "99999999999999999999", "9999999999TiB", "4 GiB extra"] {
            #expect(ByteSizeText.parse(bad) == nil, "\(bad)")
        }
    }
}
