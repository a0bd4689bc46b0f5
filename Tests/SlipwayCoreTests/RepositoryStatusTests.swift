import SlipwayCore
import Testing

/// What runs where, the pure parts: drift between the live image and Slipway's last
/// deployment, and the newest build of each branch a repository builds.
@Suite struct RepositoryStatusTests {
    static let name = "registry.local/acme/app"
    static func digest(_ fill: Character) -> String { "sha256:" + String(repeating: fill, count: 64) }

    static func deployment(_ image: String) -> Deployment {
        Deployment(
            id: 4, repository: "acme/app", buildID: 9, image: image, modelVersion: nil, trigger: .manual, requestedBy: "ops",
            state: .success, reason: nil, createdAt: 0, startedAt: 0, finishedAt: 1)
    }

    @Test func driftIsAnyLiveImageOtherThanTheOneSlipwayDeployedLast() {
        let deployed = Self.deployment("\(Self.name)@\(Self.digest("b"))")
        #expect(ReleaseDrift.between(liveImage: deployed.image, lastDeployed: deployed) == nil)
        #expect(ReleaseDrift.between(liveImage: "\(Self.name)@\(Self.digest("c"))", lastDeployed: nil) == nil, "nothing deployed yet")
        let byHand = ReleaseDrift.between(liveImage: "\(Self.name)@\(Self.digest("c"))", lastDeployed: deployed)
        #expect(byHand?.liveDigest == Self.digest("c") && byHand?.deployedDigest == Self.digest("b") && byHand?.deployment == 4)
        #expect(byHand?.description.contains(Self.digest("c")) == true && byHand?.description.contains(Self.digest("b")) == true)
        // By tag: no digest to show, the reference instead.
        let tagged = ReleaseDrift.between(liveImage: "\(Self.name):latest", lastDeployed: deployed)
        #expect(tagged?.liveDigest == nil && tagged?.description.contains(":latest") == true)
        // The same digest under another spelling of the name is the same image.
        #expect(ReleaseDrift.between(liveImage: "other.mirror/acme/app@\(Self.digest("b"))", lastDeployed: deployed) == nil)
    }

    @Test func theNewestBuildOfEachBuiltBranchSortedByName() throws {
        func build(_ id: Int64, _ ref: String) -> Build {
            Build(
                id: id, repository: "acme/app", ref: ref, sha: CommitID(String(repeating: "a", count: 40))!, cloneURL: nil, trigger: .push,
                deliveryID: nil, state: .success, reason: nil, createdAt: 0, startedAt: nil, finishedAt: nil, attempts: 1)
        }
        let newest = [build(9, "refs/heads/wip"), build(8, "refs/tags/v1"), build(7, "refs/heads/release/1"), build(5, "refs/heads/main")]
        var repository = try #require(
            try ConfigParser.parse(yaml: "repositories: [{name: acme/app, webhook_secrets: [env:HOOK], branches: [main, \"release/*\"]}]")
                .repositories.first)
        #expect(BranchStatus.newestPerBranch(newest, repository: repository).map(\.branch) == ["main", "release/1"])
        repository.branches = nil
        #expect(BranchStatus.newestPerBranch(newest, repository: repository).map(\.build.id) == [5, 7, 9], "every branch with a build")
    }
}
