import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

@Suite struct DeliveryClassifierTests {
    /// A config as a user would write it, through the real parser.
    func config(branches: [String]? = nil, tags: RepositoryConfig.TagPolicy = .none, name: String = "Codertocat/Hello-World") -> Config {
        let tagsYAML =
            switch tags {
            case .none: "false"
            case .all: "true"
            case .matching(let patterns): "[" + patterns.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
            }
        let branchesYAML = branches.map { "\n    branches: [" + $0.map { "\"\($0)\"" }.joined(separator: ", ") + "]" } ?? ""
        return try! ConfigParser.parse(
            yaml: """
                repositories:
                  - name: \(name)
                    webhook_secrets: [env:HOOK]
                    tags: \(tagsYAML)\(branchesYAML)
                """)
    }

    func fixtureFiles() throws -> [(event: String, path: String)] {
        let root = TestPaths.fixtures.appendingPathComponent("github-webhooks")
        var files: [(String, String)] = []
        for event in try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() {
            let folder = root.appendingPathComponent(event)
            guard (try? folder.checkResourceIsReachable()) == true, !event.hasPrefix("LICENSE") else { continue }
            for file in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() where file.hasSuffix(".json") {
                files.append((event, "github-webhooks/\(event)/\(file)"))
            }
        }
        return files
    }

    @Test func everyFixtureIsClassifiedAsTheSpecSays() throws {
        let files = try fixtureFiles()
        #expect(files.count >= 30)
        let config = config(branches: ["**"], tags: .all)
        for (event, path) in files {
            let payload = try TestPaths.fixture(path)
            let decision = try DeliveryClassifier.classify(event: event, deliveryID: "d", payload: payload, config: config)
            let push = event == "push" ? try PushEvent.decode(payload) : nil
            switch (event, decision) {
            case ("ping", .pong): break
            case ("push", .build(let request)):
                #expect(push?.deleted == false, "\(path)")
                #expect(request.sha == push?.after)
            case ("push", .ignore(let reason)):
                #expect(push?.deleted == true, "\(path): \(reason)")
            case ("push", .skip(_, let head)):
                #expect(head.sha == push?.after)
            case (_, .ignore(let reason)) where event != "push" && event != "ping":
                #expect(reason.contains(event))
            default:
                Issue.record("\(path): unexpected \(decision)")
            }
        }
    }

    @Test func defaultBranchOnlyWhenNoPatternsAreConfigured() throws {
        let payload = try TestPaths.fixture("github-webhooks/push/with-new-branch.payload.json")
        let push = try PushEvent.decode(payload)
        let onDefault = try DeliveryClassifier.classify(event: "push", deliveryID: "d", payload: payload, config: config())
        #expect(
            (push.branch == push.defaultBranch) == (onDefault != .ignore("") && { if case .build = onDefault { true } else { false } }()))
        let filtered = try DeliveryClassifier.classify(
            event: "push", deliveryID: "d", payload: payload, config: config(branches: ["release/*"]))
        guard case .ignore(let reason) = filtered else { Issue.record("expected ignore"); return }
        #expect(reason.contains("matches none"))
    }

    @Test func tagPushesNeedTagsEnabled() throws {
        let payload = try pushPayload(ref: "refs/tags/v1.0", message: "release")
        #expect(try classify(payload, config()) == "ignore")
        #expect(try classify(payload, config(tags: .all)) == "build")
        #expect(try classify(payload, config(tags: .matching(["v*"]))) == "build")
        #expect(try classify(payload, config(tags: .matching(["release-*"]))) == "ignore")
    }

    @Test(arguments: ["fix [skip ci]", "[ci skip] docs", "WIP [Skip CI]", "[no ci]"])
    func skipMarkersInTheHeadCommitAreIgnored(message: String) throws {
        let payload = try pushPayload(ref: "refs/heads/main", message: message)
        #expect(try classify(payload, config(branches: ["main"])) == "skip")
        // The head is kept with the delivery, so that reconcile does not build it later.
        let decision = try DeliveryClassifier.classify(event: "push", deliveryID: "d", payload: payload, config: config(branches: ["main"]))
        let push = try PushEvent.decode(payload)
        #expect(
            decision
                == .skip(
                    "head commit message contains \(DeliveryClassifier.skipMarker(in: message) ?? "")",
                    head: AnnouncedHead(lane: BuildLane.key(repository: push.repositoryFullName, ref: "refs/heads/main"), sha: push.after)))
    }

    @Test(arguments: ["fix [skip c", "[skip-ci]", "skip ci", "[skip  ci]", "café [ski", ""])
    func nearMissesOfASkipMarkerAreBuilt(message: String) throws {
        let payload = try pushPayload(ref: "refs/heads/main", message: message)
        #expect(try classify(payload, config(branches: ["main"])) == "build")
    }

    @Test func unknownRepositoryIsIgnoredNotBuilt() throws {
        let payload = try pushPayload(ref: "refs/heads/main", message: "x")
        #expect(try classify(payload, config(name: "someone/else")) == "ignore")
    }

    @Test func missingFieldsAreNamed() {
        #expect(throws: PayloadError("push payload is missing 'ref'")) {
            try DeliveryClassifier.classify(event: "push", deliveryID: "d", payload: Array(#"{"after":"x"}"#.utf8), config: config())
        }
        #expect(throws: PayloadError("payload is not valid JSON")) {
            try DeliveryClassifier.classify(event: "push", deliveryID: "d", payload: Array("not json".utf8), config: config())
        }
    }

    func classify(_ payload: [UInt8], _ config: Config) throws -> String {
        switch try DeliveryClassifier.classify(event: "push", deliveryID: "d", payload: payload, config: config) {
        case .build: "build"
        case .ignore: "ignore"
        case .skip: "skip"
        case .pong: "pong"
        }
    }

    /// A real fixture with its ref and head commit message replaced.
    func pushPayload(ref: String, message: String) throws -> [UInt8] {
        let data = Data(try TestPaths.fixture("github-webhooks/push/with-new-branch.payload.json"))
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        object["ref"] = ref
        var head = object["head_commit"] as? [String: Any] ?? [:]
        head["message"] = message
        object["head_commit"] = head
        return Array(try JSONSerialization.data(withJSONObject: object))
    }
}
