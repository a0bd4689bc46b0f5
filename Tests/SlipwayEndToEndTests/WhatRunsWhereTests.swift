import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

/// "What runs where" (`GET /api/v1/repositories`, `slipway status`, `/repositories`)
/// against the Kubernetes API stand-in the deploy tests use (`FakeKubernetesAPI`, with the
/// real kubectl; no cluster runs here).
extension DeployTests {
    func status(_ rig: Rig, _ arguments: [String] = ["acme/app"]) async throws -> (CLIProcess.Result, RepositoryStatus?) {
        let result = try await rig.cli.run(["status"] + arguments + ["--json"])
        return (result, try? JSONDecoder().decode(RepositoryStatus.self, from: Data(result.stdout.utf8)))
    }

    func setImageByHand(_ rig: Rig, _ image: String) async throws {
        let kubectl = try await blocking {
            try runProgram(
                "/usr/bin/env",
                [
                    "kubectl", "--kubeconfig", rig.kubeconfig.path, "-n", rig.kubernetes.namespace, "set", "image",
                    "deployment/\(rig.kubernetes.deployment)", "\(rig.kubernetes.container)=\(image)",
                ])
        }
        #expect(kubectl.status == 0, "\(kubectl.output)")
    }

    @Test func statusShowsTheLiveBuildItsCommitAndModelAndDriftWithBothDigests() async throws {
        try await withRig("status") { rig in
            // Before Slipway deployed anything: the cluster's image, no build of Slipway's, no drift.
            let (before, initial) = try await status(rig)
            #expect(before.status == 0, "\(before.stdout)\(before.stderr)")
            let fresh = try #require(initial?.deploy)
            #expect(fresh.liveImage == "registry.local/acme/app:initial" && fresh.liveBuild == nil)
            #expect(fresh.lastDeployment == nil && fresh.drift == nil)
            #expect(initial?.branches.map(\.branch) == ["main"] && initial?.branches.first?.build.id == 2, "the newest build of main")

            #expect(try await rig.cli.run(["deploy", "acme/app", "--wait"]).status == 0)
            let deployed = "\(Self.imageName)@\(Self.digest("b"))"
            try await eventually(timeout: .seconds(30)) { try await status(rig).1?.deploy?.liveImage == deployed }
            let (after, current) = try await status(rig)
            #expect(after.status == 0, "\(after.stdout)\(after.stderr)")
            let release = try #require(current?.deploy)
            #expect(release.liveBuild?.id == 2 && release.liveBuild?.sha == TestRepository.head)
            #expect(release.liveBuild?.model?.version == "v2" && release.liveBuild?.model?.sha256 == String(repeating: "1", count: 64))
            #expect(release.lastDeployment?.requestedBy == "ops-alice" && release.lastDeployment?.build == 2)
            #expect(release.lastDeployment?.finishedAt != nil)
            #expect(release.drift == nil)
            let table = try await rig.cli.run(["status", "acme/app"])
            #expect(table.status == 0)
            #expect(table.stdout.contains("build     #2 of main at \(TestRepository.head)"), "\(table.stdout)")
            #expect(table.stdout.contains("model     s3://models/app.onnx version v2 sha256 \(String(repeating: "1", count: 64))"))
            #expect(table.stdout.contains("by ops-alice"))

            // Someone sets another image by hand: drift, with both digests; exit 6.
            try await setImageByHand(rig, "\(Self.imageName)@\(Self.digest("c"))")
            try await eventually(timeout: .seconds(30)) { try await status(rig).1?.deploy?.drift != nil }
            let (drifted, changed) = try await status(rig)
            #expect(drifted.status == 6, "\(drifted.stderr)")
            let drift = try #require(changed?.deploy?.drift)
            #expect(drift.liveDigest == Self.digest("c") && drift.deployedDigest == Self.digest("b") && drift.deployment == 1)
            #expect(changed?.deploy?.liveBuild == nil, "no build of Slipway's pushed that digest")
            let driftTable = try await rig.cli.run(["status"])
            #expect(driftTable.status == 6)
            #expect(
                driftTable.stdout.contains("DRIFT") && driftTable.stdout.contains("live     \(Self.digest("c"))"), "\(driftTable.stdout)")
            #expect(driftTable.stdout.contains("deployed \(Self.digest("b"))"))
            #expect(driftTable.stderr.contains("the live image changed outside Slipway: acme/app"), "\(driftTable.stderr)")

            // A rollback by hand to the image Slipway deployed: no drift any more.
            try await setImageByHand(rig, deployed)
            try await eventually(timeout: .seconds(30)) { try await status(rig).1?.deploy?.drift == nil }

            // Every repository: those without deploy: show their builds only.
            let all = try await rig.cli.run(["status", "--json"])
            let list = try JSONDecoder().decode(RepositoryStatusList.self, from: Data(all.stdout.utf8))
            #expect(list.repositories.map(\.repository).contains("Codertocat/Hello-World"))
            #expect(list.repositories.filter { $0.deploy != nil }.map(\.repository) == ["acme/app"])

            // The API's errors, and the page.
            #expect(try await rig.daemon.get("/api/v1/repositories").status == 401)
            let auth = [("Authorization", "Bearer \(OperatorAPITests.token)")]
            #expect(try await rig.daemon.get("/api/v1/repositories/acme/nope", headers: auth).status == 404)
            let page = try await rig.daemon.get("/repositories", headers: auth)
            #expect(page.status == 200 && page.text.contains("Built by <a href=\"/builds/2\">#2</a>"), "\(page.text)")
            #expect(try await rig.daemon.get("/", headers: auth).text.contains("href=\"/repositories\""), "linked from /")

            // A cluster that cannot be reached: the builds still, and the reason instead of the image.
            rig.kubernetes.stop()
            try await eventually(timeout: .seconds(60)) { try await status(rig).1?.deploy?.liveError != nil }
            let (unreachable, unknown) = try await status(rig)
            #expect(unreachable.status == 0 && unknown?.branches.count == 1 && unknown?.deploy?.liveImage == nil)
            #expect(unknown?.deploy?.liveError?.contains("cannot read deployment/\(rig.kubernetes.deployment)") == true)
            #expect(unknown?.deploy?.liveError?.contains(rig.kubernetes.token) == false)
            #expect(!rig.daemon.daemonLog().contains(rig.kubernetes.token), "the cluster token is never logged")
        }
    }
}
