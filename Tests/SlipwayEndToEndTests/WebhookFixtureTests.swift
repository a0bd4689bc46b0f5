import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

/// Every payload in ../shared/fixtures/github-webhooks, signed over its exact bytes and
/// delivered over real HTTP to a running slipwayd.
@Suite struct WebhookFixtureTests {
    static func fixtures() throws -> [(event: String, path: String)] {
        let root = TestPaths.fixtures.appendingPathComponent("github-webhooks")
        let events = try FileManager.default.contentsOfDirectory(atPath: root.path).filter { !$0.contains(".") }.sorted()
        return try events.flatMap { event in
            try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(event).path)
                .filter { $0.hasSuffix(".json") }.sorted()
                .map { (event, "github-webhooks/\(event)/\($0)") }
        }
    }

    @Test func everyFixtureGetsTheReplyTheSpecPrescribes() async throws {
        let fixtures = try Self.fixtures()
        #expect(fixtures.count >= 30, "expected the whole octokit fixture set, found \(fixtures.count)")
        try await withDaemon("fixtures") { daemon in
            let store = try daemon.openStore()
            var queued: [Int64] = []
            for (event, path) in fixtures {
                let payload = try TestPaths.fixture(path)
                let object = try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] ?? [:]
                let deliveryID = UUID().uuidString
                let reply = try await daemon.deliver(event: event, payload: payload, secret: TestSecrets.repository, deliveryID: deliveryID)
                let isBranchPush =
                    event == "push" && (object["deleted"] as? Bool) == false
                    && (object["ref"] as? String)?.hasPrefix("refs/heads/") == true
                switch event {
                case "ping":
                    #expect(reply.status == 200, "\(path): \(reply.text)")
                    #expect(reply.json["pong"] as? Bool == true, "\(path)")
                case "push" where isBranchPush:
                    #expect(reply.status == 202, "\(path): \(reply.text)")
                    #expect(reply.json["state"] as? String == "queued", "\(path)")
                    let id = try #require(daemon.buildID(of: reply), "\(path): \(reply.text)")
                    let build = try #require(try await store.build(id: id))
                    #expect(build.deliveryID == deliveryID)
                    #expect(build.sha.hex == object["after"] as? String)
                    #expect(build.ref == "refs/heads/master")
                    #expect(build.trigger == .push)
                    queued.append(id)
                case "push":
                    #expect(reply.status == 202, "\(path): \(reply.text)")
                    let reason = reply.json["ignored"] as? String ?? ""
                    #expect(reason.contains("deleted"), "\(path): \(reply.text)")
                default:
                    #expect(reply.status == 202, "\(path): \(reply.text)")
                    #expect(reply.json["ignored"] as? String == "event '\(event)' is not built", "\(path): \(reply.text)")
                }
                #expect(try await store.delivery(id: deliveryID) != nil, "\(path): delivery not stored")
            }
            #expect(queued.count == 2, "with-new-branch and with-no-username-committer are the branch pushes")
            // The fixtures' commits exist only on GitHub, which cannot be reached here: the
            // builds run and end in `error` at checkout (or the older one is superseded).
            for id in queued {
                let build = try await daemon.waitForEnd(of: id)
                let endedAtCheckout = build.state == .error && (build.reason ?? "").contains("checkout")
                #expect(endedAtCheckout || build.state == .superseded, "build \(id): \(build.state) \(build.reason ?? "")")
            }
            let total = try await store.builds(.init(limit: 1000)).count
            #expect(total == 2, "only the branch pushes create builds")
        }
    }

    @Test func aFormEncodedFixtureIsAcceptedLikeJSON() async throws {
        try await withDaemon("form") { daemon in
            let payload = try TestPaths.fixture("github-webhooks/push/with-new-branch.payload.json")
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            let body = Array(
                ("payload=" + String(decoding: payload, as: UTF8.self).addingPercentEncoding(withAllowedCharacters: allowed)!).utf8)
            let reply = try await daemon.request(
                "POST", "/webhooks/github",
                headers: [
                    ("Content-Type", "application/x-www-form-urlencoded"), ("X-GitHub-Event", "push"),
                    ("X-GitHub-Delivery", UUID().uuidString),
                    ("X-Hub-Signature-256", WebhookSignature.sha256Header(body: body, secret: Array(TestSecrets.repository.utf8))),
                ], body: body)
            #expect(reply.status == 202, "\(reply.text)")
            #expect(reply.json["state"] as? String == "queued")
        }
    }
}
