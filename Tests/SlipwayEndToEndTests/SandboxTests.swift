import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

/// Untrusted build code against the real daemon, bubblewrap and buildah: a repository whose
/// test step, Dockerfile RUN line and smoke command run the same hostile script
/// (Tests/Fixtures/sandbox/hostile.sh). Under `sandbox: bubblewrap` every attempt fails;
/// under `sandbox: none` the same attempts succeed, which shows the test can fail.
@Suite(.serialized) struct SandboxTests {
    static let limits = (memory: 256 << 20, pids: 64)
    static let forks = 300

    /// One hostile run's setting: the daemon, its secrets as files, a registry and buildah.
    struct Rig {
        let daemon: DaemonHarness
        let registry: RegistryHarness
        let repository: GitFixture
        let secrets: [String: String]
        let webhookSecret: String
        let envToken: String
        /// Names the files this run's write attempts make.
        let mark = UUID().uuidString.prefix(8)

        var log: (Int64) -> String {
            { id in (try? String(contentsOfFile: "\(daemon.stateDirectory)/logs/\(id).log", encoding: .utf8)) ?? "" }
        }
    }

    /// Every "ATTACK stage:name RESULT" line of a build log, by "stage:name".
    static func attacks(in log: String) -> [String: String] {
        var found: [String: String] = [:]
        for line in log.split(separator: "\n") {
            guard let range = line.range(of: "ATTACK ") else { continue }
            let words = line[range.upperBound...].split(separator: " ", maxSplits: 1)
            guard words.count == 2, !words[1].hasPrefix("<") else { continue }
            found[String(words[0])] = String(words[1])
        }
        return found
    }

    /// Files in the daemon's own directory: secrets, a registry auth file and a kubeconfig,
    /// each in a directory of its own, as an operator would lay them out.
    /// `asUser`: the daemon runs as that uid (as under the systemd unit), with no image
    /// step (rootless buildah needs subordinate ids this test does not set up).
    static func withHostileRig<T>(_ label: String, sandbox: String, asUser: UInt32? = nil, _ body: (Rig) async throws -> T) async throws
        -> T
    {
        let registry = try await blocking { try RegistryHarness(label: label) }
        defer { registry.shutdown() }
        try await registry.start()
        let buildah = try await blocking { try BuildahSandbox(label: label, insecureRegistries: [registry.host]) }
        defer { buildah.remove() }
        let repository = try await blocking { try GitFixture(label: label, files: ["README.md": "placeholder\n"]) }
        defer { repository.remove() }
        let webhookSecret = "hook-" + UUID().uuidString, opsToken = "ops-" + UUID().uuidString, envToken = "envtok-" + UUID().uuidString
        var environment = buildah.environment
        environment["TEST_ENV_TOKEN"] = envToken
        let daemon = try DaemonHarness(label: label, environment: environment) { port, state in
            let base = (state as NSString).deletingLastPathComponent
            return """
                server: {listen: 127.0.0.1:\(port)}
                state_dir: \(state)
                log_level: debug
                reconcile: null
                sandbox: \(sandbox)
                limits: {memory: \(limits.memory), pids: \(limits.pids), open_files: 256}
                api:
                  tokens:
                    - {name: ops, token: file:\(base)/secrets/ops-token}
                    - {name: env, token: env:TEST_ENV_TOKEN}
                repositories:
                  - name: acme/app
                    webhook_secrets: [file:\(base)/secrets/webhook-secret]
                    clone_url: \(repository.bareURL)
                    test: [sh, hostile.sh, test]
                    timeout: 10m
                \(asUser == nil ? imageAndDeploy(registry: registry, base: base) : "")
                """
        }
        daemon.runAs = asUser.map { ($0, $0) }
        let base = daemon.directory.path
        let secrets = [
            "\(base)/secrets/webhook-secret": webhookSecret, "\(base)/secrets/ops-token": opsToken,
            "\(base)/registry/auth.json": registry.authFile,
            "\(base)/kube/config": "apiVersion: v1\nkind: Config # kube-\(UUID().uuidString)\n",
        ]
        for (path, content) in secrets {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: path, contents: Data(content.utf8), attributes: [.posixPermissions: 0o600])
        }
        // Another build's workspace, with something of its own.
        let other = "\(daemon.stateDirectory)/workspaces/999/src"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: other + "/other.txt", contents: Data("another build's file".utf8))
        let rig = Rig(
            daemon: daemon, registry: registry, repository: repository, secrets: secrets, webhookSecret: webhookSecret, envToken: envToken)
        return try await daemon.run { _ in try await body(rig) }
    }

    /// The image (built, smoked and pushed) and deploy sections: the registry auth and the
    /// kubeconfig are secrets of the daemon's too.
    static func imageAndDeploy(registry: RegistryHarness, base: String) -> String {
        """
            image:
              name: \(registry.host)/acme/app
              tags: ["{sha}"]
              registry_auth: file:\(base)/registry/auth.json
              smoke: [sh, /hostile.sh, smoke]
            deploy:
              schedule: null
              kubeconfig: file:\(base)/kube/config
              deployment: app
              container: app
        """
    }

    /// Commits the hostile repository, aimed at this daemon, and delivers its push.
    static func pushHostileCode(_ rig: Rig, killForReal: Bool) async throws -> Int64 {
        let base = rig.daemon.directory.path
        let pid = try #require(rig.daemon.processID)
        let escape = try await blocking { try Self.buildChrootEscape(into: rig.repository.directory) }
        let targets = """
            WEBHOOK_SECRET_FILE=\(base)/secrets/webhook-secret
            OPS_TOKEN_FILE=\(base)/secrets/ops-token
            REGISTRY_AUTH_FILE=\(base)/registry/auth.json
            KUBECONFIG_FILE=\(base)/kube/config
            STATE_DIR=\(rig.daemon.stateDirectory)
            OTHER_WORKSPACE=999
            DAEMON_PID=\(pid)
            DAEMON_BIN=\(try TestPaths.executable("slipwayd").path)
            KILL_FOR_REAL=\(killForReal ? "yes" : "no")
            FORKS=\(forks)
            MEMORY_BYTES=\(limits.memory)
            MARK=\(rig.mark)

            """
        let script = try String(
            contentsOf: TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/sandbox/hostile.sh"), encoding: .utf8)
        let dockerfile = """
            FROM \(BuildahSandbox.baseImage)
            COPY hostile.sh targets.env chroot-escape /
            RUN sh /hostile.sh run-line
            """
        let sha = try await blocking {
            try rig.repository.commit(
                files: ["hostile.sh": script, "targets.env": targets, "Dockerfile": dockerfile],
                executables: ["chroot-escape": escape], message: "Tests")
        }
        if let user = rig.daemon.runAs {
            // git fetches from a repository only as its owner ("dubious ownership").
            _ = try runProgram(
                "/bin/chown", ["-R", "\(user.uid):\(user.gid)", rig.repository.directory.appendingPathComponent("origin.git").path])
        }
        let reply = try await rig.daemon.deliver(event: "push", payload: pushPayload(sha: sha), secret: rig.webhookSecret)
        guard reply.status == 202, let id = rig.daemon.buildID(of: reply) else {
            throw HarnessError("delivery refused: \(reply.status) \(reply.text)")
        }
        return id
    }

    /// Tests/Fixtures/sandbox/chroot-escape.c, built statically (it runs in a busybox image).
    static func buildChrootEscape(into directory: URL) throws -> URL {
        let output = directory.appendingPathComponent("chroot-escape")
        let source = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/sandbox/chroot-escape.c").path
        let result = try runProgram("/usr/bin/gcc", ["-static", "-O2", "-o", output.path, source])
        guard result.status == 0 else { throw HarnessError("gcc -static failed (gcc and libc6-dev are test packages): \(result.output)") }
        return output
    }

    /// What one hostile build did: its end, /readyz's answers meanwhile, its log and the
    /// script's report of each attempt (printed, for the record).
    struct HostileRun {
        let build: Build
        let readiness: [Int]
        let log: String
        let attacks: [String: String]
    }

    static func runHostileBuild(_ rig: Rig, killForReal: Bool, setting: String) async throws -> HostileRun {
        let id = try await pushHostileCode(rig, killForReal: killForReal)
        let (build, readiness) = try await waitWatchingReadiness(rig, id)
        let log = rig.log(id)
        let attacks = attacks(in: log)
        print("attacks \(setting): \(attacks.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" })")
        #expect(build.state == .success, "the script decides its build's end: \(build.state) \(build.reason ?? "")\n\(log)")
        return HostileRun(build: build, readiness: readiness, log: log, attacks: attacks)
    }

    /// Waits for the build's end while asking /readyz every 100 ms; every answer's status.
    static func waitWatchingReadiness(_ rig: Rig, _ id: Int64) async throws -> (Build, [Int]) {
        let answers = ReadinessAnswers()
        let watcher = Task {
            while !Task.isCancelled {
                do {
                    answers.append(try await rig.daemon.get("/readyz").status)
                } catch {
                    // A request the end of the build cancelled is no answer.
                    if Task.isCancelled { break }
                    print("/readyz during the hostile build: \(error)")
                    answers.append(0)
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { watcher.cancel() }
        let build = try await rig.daemon.waitForEnd(of: id, timeout: .seconds(240))
        watcher.cancel()
        answers.append((try? await rig.daemon.get("/readyz").status) ?? 0)
        return (build, answers.all)
    }

    /// Processes named by the hostile script's `sleep 600N` (N: the stage).
    static func leftovers() -> [Int32] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init) ?? []
        return pids.filter { pid in
            let argv = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { String(decoding: $0, as: UTF8.self) } ?? ""
            return ["6001", "6002", "6003"].contains { argv.hasSuffix("sleep\u{0}\($0)\u{0}") }
        }
    }

    /// The files the script's write attempts made on the host (removed here).
    static func writtenOutside(_ rig: Rig) throws -> [String] {
        let binary = try TestPaths.executable("slipwayd").path
        let paths = ["test", "run-line", "smoke"].flatMap { stage in
            [
                "\(rig.daemon.stateDirectory)/pwned-\(stage)-\(rig.mark)", "/etc/slipway-pwned-\(stage)-\(rig.mark)",
                "\(binary).pwned-\(stage)-\(rig.mark)",
            ]
        }
        let found = paths.filter { FileManager.default.fileExists(atPath: $0) }
        for path in found { try? FileManager.default.removeItem(atPath: path) }
        return found
    }

    @Test func hostileBuildCodeReachesNothingButItsWorkspace() async throws {
        try await Self.withHostileRig("sandbox-hostile", sandbox: "bubblewrap") { rig in
            let run = try await Self.runHostileBuild(rig, killForReal: true, setting: "under bubblewrap, daemon as root")
            let (id, log, attacks) = (run.build.id, run.log, run.attacks)
            #expect(run.readiness.allSatisfy { $0 == 200 } && run.readiness.count >= 2, "/readyz during and after: \(run.readiness)")
            #expect(rig.daemon.isRunning)

            let expected = [
                "webhook-secret", "ops-token", "registry-auth", "kubeconfig", "other-workspace", "shadow", "database", "mirrors",
                "find-daemon", "daemon-environ", "daemon-mem", "signal-daemon", "write-daemon-binary",
            ]
            let written = try Self.writtenOutside(rig)
            #expect(written.isEmpty, "writes outside the build reached the host: \(written)")
            for attack in ["write-state", "write-etc", "write-beside-daemon"] {
                #expect(attacks["test:\(attack)"] == "BLOCKED", "test:\(attack) \(attacks["test:\(attack)"] ?? "did not run")")
            }
            for stage in ["test", "run-line", "smoke"] {
                for attack in expected {
                    #expect(
                        attacks["\(stage):\(attack)"] == "BLOCKED", "\(stage):\(attack) \(attacks["\(stage):\(attack)"] ?? "did not run")")
                }
                #expect(attacks["\(stage):leftover"] == "STARTED")
            }
            let forks = try #require(attacks["test:forks"].flatMap { Int($0) })
            #expect(forks > 5 && forks < Self.limits.pids, "forks before refusal: \(forks) (limit \(Self.limits.pids))")
            #expect(attacks["test:memory"] == "BLOCKED", "allocating twice limits.memory")
            #expect(Self.leftovers().isEmpty, "nothing the build started outlives it")

            // No secret, as it is or reversed, in the build log, the daemon log or the API.
            var api = try await rig.daemon.get("/api/v1/builds/\(id)", headers: [("Authorization", "Bearer \(rig.envToken)")]).text
            api += try await rig.daemon.get("/api/v1/builds/\(id)/log", headers: [("Authorization", "Bearer \(rig.envToken)")]).text
            let secretValues = Array(rig.secrets.values) + [rig.envToken]
            for secret in secretValues {
                for text in [("build log", log), ("daemon log", rig.daemon.daemonLog()), ("API", api)] {
                    #expect(!text.1.contains(secret) && !text.1.contains(String(secret.reversed())), "a secret in the \(text.0)")
                }
            }
        }
    }

    /// As the systemd unit and the container image run it: an ordinary user, so bwrap
    /// makes a user namespace and the code runs as the daemon's own uid inside it.
    @Test func aDaemonOfAnOrdinaryUserKeepsTheSameFromItsOwnUidsCode() async throws {
        let uid: UInt32 = 4242
        try await Self.withHostileRig("sandbox-user", sandbox: "bubblewrap", asUser: uid) { rig in
            let run = try await Self.runHostileBuild(rig, killForReal: true, setting: "under bubblewrap, daemon as uid \(uid)")
            let attacks = run.attacks
            #expect(run.readiness.allSatisfy { $0 == 200 }, "/readyz during and after: \(run.readiness)")
            #expect(run.log.contains("sandbox: bubblewrap, host network, as the daemon's uid"), "\(run.log)")
            for attack in [
                "webhook-secret", "ops-token", "other-workspace", "shadow", "database", "mirrors", "find-daemon",
                "daemon-environ", "daemon-mem", "signal-daemon", "write-state", "write-etc", "write-beside-daemon",
                "write-daemon-binary",
            ] {
                #expect(attacks["test:\(attack)"] == "BLOCKED", "test:\(attack) \(attacks["test:\(attack)"] ?? "did not run")")
            }
            let forks = try #require(attacks["test:forks"].flatMap { Int($0) })
            #expect(forks > 5 && forks < Self.limits.pids, "forks before refusal: \(forks) (limit \(Self.limits.pids))")
            #expect(attacks["test:memory"] == "BLOCKED")
            #expect(try Self.writtenOutside(rig).isEmpty)
            #expect(Self.leftovers().isEmpty)
            #expect(rig.daemon.isRunning)
            // Its own user cannot read the daemon's environment either: it is not dumpable.
            let pid = try #require(rig.daemon.processID)
            let sameUser = try runProgram(
                "/usr/bin/setpriv",
                [
                    "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--",
                    "/bin/cat", "/proc/\(pid)/environ",
                ])
            #expect(sameUser.status != 0 && !sameUser.output.contains(rig.envToken), "\(sameUser.output)")
        }
    }

    @Test func withoutTheSandboxTheSameAttacksSucceed() async throws {
        try await Self.withHostileRig("sandbox-none", sandbox: "none") { rig in
            let run = try await Self.runHostileBuild(rig, killForReal: false, setting: "with sandbox: none")
            let (log, attacks) = (run.log, run.attacks)
            let written = try Self.writtenOutside(rig)
            #expect(
                written.count == 7,
                "the test step's three writes and the container steps' escapes into the state directory and /etc: \(written)")
            for attack in [
                "webhook-secret", "ops-token", "registry-auth", "kubeconfig", "other-workspace", "shadow", "database", "mirrors",
                "find-daemon", "daemon-environ", "daemon-mem", "signal-daemon", "write-state", "write-etc",
                "write-beside-daemon", "write-daemon-binary",
            ] {
                #expect(attacks["test:\(attack)"]?.hasPrefix("OK") == true, "test:\(attack) \(attacks["test:\(attack)"] ?? "did not run")")
            }
            // Inside buildah's chroot isolation: the host's processes are visible and can be
            // signalled, and the escape reaches the host's files.
            for stage in ["run-line", "smoke"] {
                for attack in ["webhook-secret", "ops-token", "registry-auth", "find-daemon", "signal-daemon", "write-state"] {
                    #expect(
                        attacks["\(stage):\(attack)"]?.hasPrefix("OK") == true,
                        "\(stage):\(attack) \(attacks["\(stage):\(attack)"] ?? "did not run")")
                }
            }
            #expect(attacks["test:forks"] == String(Self.forks), "no pids limit outside the sandbox")
            #expect(attacks["test:memory"] == "OK")
            // The reversed secret gets past the log's masking.
            #expect(log.contains(String(rig.webhookSecret.reversed())))
            let left = Self.leftovers()
            #expect(!left.isEmpty, "setsid escapes the step's session")
            for pid in left { kill(pid, SIGKILL) }
        }
    }

    @Test func anOrdinaryRepositoryStillPassesInTheSandbox() async throws {
        let repository = try await blocking {
            try GitFixture(
                label: "sandbox-plain",
                files: [
                    "test_model.py": """
                    import getpass, os, subprocess, tempfile, unittest

                    class ModelTest(unittest.TestCase):
                        def test_checkout_home_and_tmp_are_writable(self):
                            with open("result.txt", "w") as f:
                                f.write("ok")
                            with tempfile.NamedTemporaryFile(dir=os.environ["HOME"]) as f:
                                f.write(b"x")
                            self.assertTrue(getpass.getuser())

                        def test_git_works_in_the_checkout(self):
                            head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
                            self.assertEqual(len(head.stdout.strip()), 40)

                    if __name__ == "__main__":
                        unittest.main()
                    """
                ])
        }
        defer { repository.remove() }
        let daemon = try DaemonHarness(label: "sandbox-plain", environment: TestSecrets.environment) { port, state in
            testConfig(
                port: port, stateDirectory: state, test: ["python3", "-m", "unittest", "-v"], cloneURL: repository.bareURL,
                topLevelExtra: "sandbox_network: false")
        }
        try await daemon.run { daemon in
            let reply = try await daemon.deliver(event: "push", payload: pushPayload(sha: repository.head), secret: TestSecrets.repository)
            let id = try #require(daemon.buildID(of: reply))
            let build = try await daemon.waitForEnd(of: id, timeout: .seconds(120))
            let log = (try? String(contentsOfFile: "\(daemon.stateDirectory)/logs/\(id).log", encoding: .utf8)) ?? ""
            #expect(build.state == .success, "\(build.reason ?? "")\n\(log)")
            #expect(log.contains("sandbox: bubblewrap, no network"), "\(log)")
            #expect(log.contains("Ran 2 tests") && log.contains("OK"), "\(log)")
        }
    }
}

/// /readyz answers collected while a build runs.
final class ReadinessAnswers: @unchecked Sendable {
    private let lock = NSLock()
    private var answers: [Int] = []
    func append(_ status: Int) { lock.withLock { answers.append(status) } }
    var all: [Int] { lock.withLock { answers } }
}
