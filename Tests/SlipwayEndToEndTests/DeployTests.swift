import Foundation
import SlipwayCore
import SlipwayStore
import SlipwayTesting
import Testing

/// The release step with the real kubectl against a fake Kubernetes API server (no
/// cluster runs here; FakeKubernetesAPI says what it plays). The builds being deployed
/// are written into the daemon's database before it starts: how an image gets built and
/// pushed is PipelineEndToEndTests' subject; here it is how it gets deployed.
@Suite struct DeployTests {
    static let imageName = "registry.local/acme/app"
    static func digest(_ fill: Character) -> String { "sha256:" + String(repeating: fill, count: 64) }

    struct Rig {
        let kubernetes: FakeKubernetesAPI
        let daemon: DaemonHarness
        let cli: CLIProcess
        let kubeconfig: URL
    }

    /// A daemon whose acme/app deploys to the fake cluster; builds 1…n are seeded as
    /// successful with images `digest("a")`, `digest("b")`, …, all of one commit, each with
    /// a model of its own unless `models` names them (build i has `models[i - 1]`).
    func withRig(
        _ label: String, schedule: String = "null", rolloutTimeout: String = "5s", seeded: Int = 2, models: [String]? = nil,
        beforeStart: (DaemonHarness) async throws -> Void = { _ in }, _ body: (Rig) async throws -> Void
    ) async throws {
        let kubernetes = try FakeKubernetesAPI()
        defer { kubernetes.remove() }
        try await kubernetes.start()
        let kubeconfig = kubernetes.directory.appendingPathComponent("kubeconfig")
        try kubernetes.kubeconfig.write(to: kubeconfig, atomically: true, encoding: .utf8)
        var env = TestSecrets.environment
        env["TEST_OPS_TOKEN"] = OperatorAPITests.token
        _ = await blocking { TestRepository.shared }
        let extra = """
                image:
                  name: \(Self.imageName)
                deploy:
                  schedule: \(schedule)
                  kubeconfig: file:\(kubeconfig.path)
                  namespace: \(kubernetes.namespace)
                  deployment: \(kubernetes.deployment)
                  container: \(kubernetes.container)
                  rollout_timeout: \(rolloutTimeout)
            """
        let daemon = try DaemonHarness(label: label, environment: env) { port, state in
            testConfig(port: port, stateDirectory: state, appRepositoryExtra: extra, topLevelExtra: OperatorAPITests.apiYAML)
        }
        try FileManager.default.createDirectory(atPath: daemon.stateDirectory, withIntermediateDirectories: true)
        let store = try daemon.openStore()
        for index in 0..<seeded {
            let build = try await store.enqueue(
                BuildRequest(
                    repository: "acme/app", ref: "refs/heads/main", sha: CommitID(TestRepository.head)!,
                    cloneURL: nil, trigger: .push, deliveryID: nil), supersedeOlder: false)
            let fence = try #require(try await store.claimRunnable(freeWorkers: 1).first?.fence)
            try await store.recordImage(
                buildID: build.id,
                ImageProvenance(
                    name: Self.imageName, tags: ["main"],
                    digest: Self.digest(Character(UnicodeScalar(97 + index)!))), fence: fence)
            try await store.recordModel(
                buildID: build.id,
                ModelProvenance(
                    source: "s3://models/app.onnx", version: "v\(index + 1)",
                    sha256: models?[index] ?? String(repeating: "\(index)", count: 64)), fence: fence)
            try await store.transition(build.id, .finish(.success), reason: nil)
        }
        try await beforeStart(daemon)
        let cli = try CLIProcess(environment: ["SLIPWAY_URL": daemon.baseURL, "SLIPWAY_TOKEN": OperatorAPITests.token, "NO_COLOR": "1"])
        defer { cli.removeFiles() }
        try await daemon.run { daemon in try await body(Rig(kubernetes: kubernetes, daemon: daemon, cli: cli, kubeconfig: kubeconfig)) }
    }

    func liveImage(_ rig: Rig) async throws -> String {
        let kubectl = try await blocking {
            try runProgram(
                "/usr/bin/env",
                [
                    "kubectl", "--kubeconfig", rig.kubeconfig.path, "-n", rig.kubernetes.namespace, "get", "deployment",
                    rig.kubernetes.deployment, "-o", "jsonpath={.spec.template.spec.containers[0].image}",
                ], stdoutOnly: true)
        }
        return kubectl.output
    }

    @Test func onDemandDeploysByDigestWaitsForTheRolloutAndSkipsWhatIsLive() async throws {
        try await withRig("deploy") { rig in
            // The newest good build (2), by digest.
            let first = try await rig.cli.run(["deploy", "acme/app", "--wait"])
            #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
            let wanted = "\(Self.imageName)@\(Self.digest("b"))"
            #expect(
                first.stdout.contains("deployed \(wanted)") && first.stdout.contains("deployment #1 success: acme/app build #2"),
                "\(first.stdout)")
            #expect(try await liveImage(rig) == wanted)
            let patches = rig.kubernetes.requests.filter { $0.method == "PATCH" }
            #expect(patches.count == 1 && patches[0].body.contains(Self.digest("b")), "\(patches.map(\.body))")
            #expect(!patches[0].body.contains(":main"), "by digest, never by tag")

            // The same digest again: nothing is redeployed.
            let again = try await rig.cli.run(["deploy", "acme/app", "--wait"])
            #expect(again.status == 0 && again.stdout.contains("skipped") && again.stdout.contains("already live"), "\(again.stdout)")
            #expect(rig.kubernetes.requests.filter { $0.method == "PATCH" }.count == 1)

            // An older build on demand.
            let older = try await rig.cli.run(["deploy", "acme/app", "--build", "1", "--wait", "--json"])
            let json = try JSONDecoder().decode(DeploymentJSON.self, from: Data(older.stdout.utf8))
            #expect(json.state == "success" && json.build == 1 && json.modelVersion == "v1" && json.requestedBy == "ops-alice")
            #expect(try await liveImage(rig) == "\(Self.imageName)@\(Self.digest("a"))")

            // The record: list, log, and the errors.
            let list = try await rig.cli.run(["deployments", "--repository", "acme/app"])
            #expect(list.stdout.split(separator: "\n").count == 4, "\(list.stdout)")
            #expect(try await rig.cli.run(["deploy", "acme/nope"]).status == 2, "not configured: 400")
            #expect(try await rig.cli.run(["deploy", "acme/app", "--build", "999"]).status == 3, "no such build: 404")
            let log = try String(contentsOfFile: rig.daemon.stateDirectory + "/deploy-logs/1.log", encoding: .utf8)
            #expect(log.contains("$ kubectl --kubeconfig") && log.contains("set image deployment/\(rig.kubernetes.deployment)"))
            #expect(
                !log.contains(rig.kubernetes.token) && !rig.daemon.daemonLog().contains(rig.kubernetes.token),
                "the cluster token is never logged")
            #expect(!FileManager.default.fileExists(atPath: rig.daemon.stateDirectory + "/tmp/deploy-1"), "the kubeconfig copy is removed")
        }
    }

    @Test func aRebuildOfTheLiveCommitAndModelIsSkippedSayingWhy() async throws {
        let model = String(repeating: "7", count: 64)
        // Build 3 is build 2 again (same commit, same model), under a new digest.
        try await withRig("deploy-same", seeded: 3, models: [String(repeating: "1", count: 64), model, model]) { rig in
            #expect(try await rig.cli.run(["deploy", "acme/app", "--build", "2", "--wait"]).status == 0)
            let live = "\(Self.imageName)@\(Self.digest("b"))"
            #expect(try await liveImage(rig) == live)

            let rebuilt = try await rig.cli.run(["deploy", "acme/app", "--wait", "--json"])
            let json = try JSONDecoder().decode(DeploymentJSON.self, from: Data(rebuilt.stdout.utf8))
            #expect(json.build == 3 && json.state == "skipped", "\(rebuilt.stdout)")
            #expect(
                json.reason
                    == "the live image (build #2) has the same commit \(TestRepository.head.prefix(7)) and model sha256 777777777777…")
            #expect(try await liveImage(rig) == live, "nothing was rolled out")
            #expect(rig.kubernetes.requests.filter { $0.method == "PATCH" }.count == 1)
            let log = try String(contentsOfFile: rig.daemon.stateDirectory + "/deploy-logs/\(json.id).log", encoding: .utf8)
            #expect(log.contains("skipped: the live image (build #2)") && log.contains("differs from it only by its rebuild"), "\(log)")

            // Another model is a new release.
            let older = try await rig.cli.run(["deploy", "acme/app", "--build", "1", "--wait", "--json"])
            #expect(try JSONDecoder().decode(DeploymentJSON.self, from: Data(older.stdout.utf8)).state == "success", "\(older.stdout)")
            #expect(try await liveImage(rig) == "\(Self.imageName)@\(Self.digest("a"))")
        }
    }

    @Test func aRolloutThatNeverBecomesReadyIsRolledBackAndAnUnreachableClusterIsAnError() async throws {
        try await withRig("rollback", rolloutTimeout: "2s") { rig in
            #expect(try await rig.cli.run(["deploy", "acme/app", "--build", "1", "--wait"]).status == 0)
            let before = try await liveImage(rig)
            try rig.kubernetes.setNeverReady(true)
            let failed = try await rig.cli.run(["deploy", "acme/app", "--wait"])
            #expect(failed.status == 5 && failed.stderr.contains("ended failure"), "\(failed.stdout)\(failed.stderr)")
            #expect(failed.stdout.contains("rollout undo") && failed.stdout.contains("rolled back to \(before)"), "\(failed.stdout)")
            #expect(try await liveImage(rig) == before, "the previous image is live again")

            rig.kubernetes.stop()
            let unreachable = try await rig.cli.run(["deploy", "acme/app", "--wait"])
            #expect(unreachable.status == 5 && unreachable.stderr.contains("ended error"), "\(unreachable.stderr)")
            #expect(try await rig.daemon.request("GET", "/readyz", headers: [], body: nil).status == 200)
        }
    }

    @Test func aScheduledRunMissedWhileStoppedRunsOnceAtStart() async throws {
        try await withRig(
            "catch-up", schedule: "'0 * * * *'",
            beforeStart: { daemon in
                // The daemon last looked at the schedule three hours ago: three hourly slots were missed.
                try await daemon.openStore().setScheduleCheckedUntil(repository: "acme/app", Date().timeIntervalSince1970 - 3 * 3600)
            }
        ) { rig in
            let store = try rig.daemon.openStore()
            try await eventually(timeout: .seconds(30)) {
                try await store.deployments(repository: "acme/app", limit: 10).first?.state.isTerminal == true
            }
            try await Task.sleep(for: .seconds(1))
            let deployments = try await store.deployments(repository: "acme/app", limit: 10)
            #expect(deployments.count == 1, "one catch-up run, not one per missed slot")
            #expect(deployments.first?.trigger == .schedule && deployments.first?.state == .success && deployments.first?.buildID == 2)
            #expect(rig.daemon.daemonLog().contains("scheduled deployment missed while stopped: running it now"))
        }
    }

    @Test func aDeploymentInterruptedByAStopEndsAsErrorAndDoesNotBlockTheNext() async throws {
        try await withRig(
            "deploy-interrupted",
            beforeStart: { daemon in
                let store = try daemon.openStore()
                let build = try #require(try await store.build(id: 1))
                guard
                    case .created(let deployment) = try await store.createDeployment(
                        of: build, image: "x@sha256:1", trigger: .manual, requestedBy: "ops")
                else {
                    throw HarnessError("not created")
                }
                try await store.startDeployment(id: deployment.id)
            }
        ) { rig in
            let store = try rig.daemon.openStore()
            let interrupted = try #require(try await store.deployment(id: 1))
            #expect(interrupted.state == .error && (interrupted.reason ?? "").contains("interrupted"), "\(interrupted)")
            let next = try await rig.cli.run(["deploy", "acme/app", "--wait"])
            #expect(next.status == 0 && next.stdout.contains("deployment #2 success"), "\(next.stdout)\(next.stderr)")
        }
    }
}
