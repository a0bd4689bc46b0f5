import SlipwayCore
import Testing

/// `reconcile`'s pure parts: reading `git ls-remote`, the branch filters, the decision
/// per listed head, and the config keys.
@Suite struct BranchReconcileTests {
    static let a = CommitID(String(repeating: "a", count: 40))!
    static let b = CommitID(String(repeating: "b", count: 40))!

    @Test func aListingGivesTheDefaultBranchAndEveryValidBranchHead() {
        let text = """
            ref: refs/heads/main\tHEAD
            \(Self.a.hex)\tHEAD
            \(Self.a.hex)\trefs/heads/main
            \(Self.b.hex)\trefs/heads/release/1.0
            \(Self.b.hex)\trefs/heads/bad..name
            nonsense\trefs/heads/x
            \(Self.b.hex)\trefs/tags/v1
            \r
            """
        let listing = BranchListing.parse(text.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(listing.defaultBranch == "main")
        #expect(listing.heads == ["refs/heads/main": Self.a, "refs/heads/release/1.0": Self.b])
        #expect(BranchListing.parse("").defaultBranch == nil)
    }

    @Test func theHeadsBuiltAreThoseAPushOfThemWouldBuild() throws {
        let heads = ["refs/heads/main": Self.a, "refs/heads/release/1.0": Self.b, "refs/heads/wip": Self.b]
        var repository = try #require(
            try ConfigParser.parse(yaml: "repositories: [{name: acme/app, webhook_secrets: [env:HOOK]}]").repositories.first)
        // No `branches:`: the default branch only.
        #expect(BranchListing.wanted(heads, defaultBranch: "main", repository: repository).map(\.ref) == ["refs/heads/main"])
        #expect(BranchListing.wanted(heads, defaultBranch: nil, repository: repository).isEmpty)
        repository.branches = ["main", "release/*"]
        #expect(
            BranchListing.wanted(heads, defaultBranch: nil, repository: repository).map(\.ref) == [
                "refs/heads/main", "refs/heads/release/1.0",
            ])
    }

    @Test func eachListedHeadIsBuiltOnlyWhenNobodyAnnouncedIt() {
        func decide(build: Int64? = nil, announced: Bool = false, listed: CommitID? = nil, seen: Bool = false) -> ReconcileDecision {
            ReconcileDecision.decide(
                ListedHeadFacts(existingBuild: build, announced: announced, previouslyListed: listed, branchSeen: seen), head: Self.a)
        }
        // A build of the head, whatever its state (superseded too), is enough.
        #expect(decide(build: 7, listed: Self.b, seen: true) == .built)
        #expect(decide(announced: true, listed: Self.b, seen: true) == .announced)
        // A branch Slipway never saw: its first head is the baseline; listed again unchanged, nothing.
        #expect(decide() == .baseline)
        #expect(decide(listed: Self.a) == .unchanged)
        // Moved since the last listing, or a branch with builds whose head nobody announced.
        #expect(decide(listed: Self.b) == .build)
        #expect(decide(seen: true) == .build)
    }

    @Test func theIntervalIsTheDaemonsUnlessTheRepositorySaysOtherwise() throws {
        let yaml = """
            reconcile: 2m
            repositories:
              - {name: acme/a, webhook_secrets: [env:HOOK]}
              - {name: acme/b, webhook_secrets: [env:HOOK], reconcile: null}
              - {name: acme/c, webhook_secrets: [env:HOOK], reconcile: 30s}
            """
        let config = try ConfigParser.parse(yaml: yaml)
        #expect(config.repositories.map { config.reconcileInterval(of: $0) } == [.seconds(120), nil, .seconds(30)])
        let defaults = try ConfigParser.parse(yaml: "repositories: [{name: acme/a, webhook_secrets: [env:HOOK]}]")
        #expect(defaults.reconcile == .seconds(600), "on by default, every 10 minutes")
        let off = try ConfigParser.parse(yaml: "reconcile: ~\nrepositories: [{name: acme/a, webhook_secrets: [env:HOOK], reconcile: 5m}]")
        #expect(off.reconcile == nil)
        #expect(off.reconcileInterval(of: off.repositories[0]) == .seconds(300), "a repository may turn it on for itself")
    }

    @Test func aBadIntervalIsNamed() {
        for (yaml, path) in [
            ("reconcile: soon", "reconcile"), ("reconcile: 500ms", "reconcile"),
            ("repositories: [{name: acme/a, webhook_secrets: [env:HOOK], reconcile: 0s}]", "repositories[0].reconcile"),
        ] {
            let yaml = yaml.hasPrefix("repositories") ? yaml : yaml + "\nrepositories: [{name: acme/a, webhook_secrets: [env:HOOK]}]"
            #expect(throws: ConfigError.self) { try ConfigParser.parse(yaml: yaml) }
            do {
                _ = try ConfigParser.parse(yaml: yaml)
            } catch {
                #expect(error.problems.map(\.path) == [path], "\(yaml)")
            }
        }
    }
}
