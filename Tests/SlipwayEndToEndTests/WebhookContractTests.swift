import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

/// Each row of the SPEC's POST /webhooks/github table, over real HTTP.
@Suite struct WebhookContractTests {
    let secret = TestSecrets.repository

    func signed(_ body: [UInt8], _ secret: String) -> String {
        WebhookSignature.sha256Header(body: body, secret: Array(secret.utf8))
    }

    func post(_ daemon: DaemonHarness, body: [UInt8], headers: [(String, String)]) async throws -> DaemonHarness.Reply {
        try await daemon.request("POST", "/webhooks/github", headers: headers, body: body)
    }

    func buildCount(_ daemon: DaemonHarness) async throws -> Int {
        try await daemon.openStore().builds(.init(limit: 10_000)).count
    }

    @Test func aValidPushIsStoredBeforeThe202() async throws {
        try await withDaemon("valid-push") { daemon in
            let sha = TestRepository.head
            let reply = try await daemon.deliver(event: "push", payload: pushPayload(sha: sha), secret: secret, deliveryID: "d-valid")
            #expect(reply.status == 202)
            let id = try #require(daemon.buildID(of: reply))
            #expect(reply.json["state"] as? String == "queued")
            // Read right after the reply, from another connection: it is already committed.
            let stored = try #require(try await daemon.openStore().build(id: id))
            #expect(stored.sha.hex == sha)
            #expect(stored.deliveryID == "d-valid")
            #expect(try await daemon.waitForEnd(of: id).state == .success)
        }
    }

    @Test func githubsDocumentedSignatureVectorIsAccepted() async throws {
        let body = Array("Hello, World!".utf8)
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        #expect(signed(body, TestSecrets.githubVector) == header)
        try await withDaemon("vector") { daemon in
            // The vector's body is not a payload: a correct signature gets 400 (unparseable),
            // a wrong one 401, which shows the daemon accepted GitHub's own signature.
            let good = try await post(
                daemon, body: body,
                headers: [
                    ("Content-Type", "application/json"), ("X-GitHub-Event", "push"),
                    ("X-GitHub-Delivery", UUID().uuidString), ("X-Hub-Signature-256", header),
                ])
            #expect(good.status == 400, "\(good.text)")
            let flipped = header.dropLast() + "6"
            let bad = try await post(
                daemon, body: body,
                headers: [
                    ("Content-Type", "application/json"), ("X-GitHub-Event", "push"),
                    ("X-GitHub-Delivery", UUID().uuidString), ("X-Hub-Signature-256", String(flipped)),
                ])
            #expect(bad.status == 401)
        }
    }

    @Test func badSignaturesGet401AndStoreNothing() async throws {
        try await withDaemon("bad-signatures") { daemon in
            let body = pushPayload(message: "secret-marker-in-body")
            let good = signed(body, secret)
            let lastDigit = good.last!
            let flipped = String(good.dropLast()) + (lastDigit == "0" ? "1" : "0")
            let cases: [(String, [(String, String)])] = [
                ("wrong secret", [("X-Hub-Signature-256", signed(body, "not-the-secret"))]),
                ("one flipped hex digit", [("X-Hub-Signature-256", flipped)]),
                ("truncated header", [("X-Hub-Signature-256", String(good.prefix(40)))]),
                ("empty header", [("X-Hub-Signature-256", "")]),
                ("missing header", []),
                ("no algorithm", [("X-Hub-Signature-256", String(good.dropFirst(7)))]),
                (
                    "sha1 beside a wrong sha256",
                    [
                        ("X-Hub-Signature-256", flipped),
                        ("X-Hub-Signature", "sha1=" + Crypto.hmacSHA1(key: Array(secret.utf8), message: body).hexString),
                    ]
                ),
                ("wrong legacy sha1", [("X-Hub-Signature", "sha1=" + Crypto.hmacSHA1(key: Array("nope".utf8), message: body).hexString)]),
            ]
            for (name, signatureHeaders) in cases {
                let deliveryID = UUID().uuidString
                let reply = try await post(
                    daemon, body: body,
                    headers: [
                        ("Content-Type", "application/json"), ("X-GitHub-Event", "push"), ("X-GitHub-Delivery", deliveryID),
                    ] + signatureHeaders)
                #expect(reply.status == 401, "\(name): \(reply.status) \(reply.text)")
                #expect(!reply.text.contains("secret-marker-in-body"), "\(name): body echoed")
                #expect(try await daemon.openStore().delivery(id: deliveryID) == nil, "\(name): delivery stored")
            }
            #expect(try await buildCount(daemon) == 0)
            #expect(!daemon.daemonLog().contains("secret-marker-in-body"), "the payload reached the log")
            #expect(!daemon.daemonLog().contains(secret), "a secret reached the log")
        }
    }

    @Test func legacySHA1IsUsedOnlyWhereSHA256IsAbsent() async throws {
        try await withDaemon("sha1") { daemon in
            let body = pushPayload()
            let sha1 = "sha1=" + Crypto.hmacSHA1(key: Array(secret.utf8), message: body).hexString
            let wrongSHA1 = "sha1=" + Crypto.hmacSHA1(key: Array("not-the-secret".utf8), message: body).hexString
            func deliver(_ signatureHeaders: [(String, String)]) async throws -> DaemonHarness.Reply {
                try await post(
                    daemon, body: body,
                    headers: [
                        ("Content-Type", "application/json"), ("X-GitHub-Event", "push"), ("X-GitHub-Delivery", UUID().uuidString),
                    ] + signatureHeaders)
            }
            let alone = try await deliver([("X-Hub-Signature", sha1)])
            #expect(alone.status == 202, "sha1 alone: \(alone.text)")
            // With both headers only the sha256 one counts, whatever the sha1 one says.
            let wrongSHA256 = try await deliver([("X-Hub-Signature-256", signed(body, "not-the-secret")), ("X-Hub-Signature", sha1)])
            #expect(wrongSHA256.status == 401, "a wrong sha256 beside a right sha1: \(wrongSHA256.text)")
            let rightSHA256 = try await deliver([("X-Hub-Signature-256", signed(body, secret)), ("X-Hub-Signature", wrongSHA1)])
            #expect(rightSHA256.status == 202, "a right sha256 beside a wrong sha1: \(rightSHA256.text)")
        }
    }

    @Test func rotatedAndOrganizationSecretsAreAccepted() async throws {
        try await withDaemon("rotation") { daemon in
            let fixture = try TestPaths.fixture("github-webhooks/push/with-new-branch.payload.json")
            for key in [TestSecrets.repository, TestSecrets.previous, TestSecrets.organization] {
                let reply = try await daemon.deliver(event: "push", payload: fixture, secret: key)
                #expect(reply.status == 202, "\(reply.text)")
                #expect(reply.json["state"] as? String == "queued")
            }
            // The previous secret of Codertocat/Hello-World is not a secret of acme/app.
            let other = try await daemon.deliver(event: "push", payload: pushPayload(), secret: TestSecrets.previous)
            #expect(other.status == 401)
        }
    }

    @Test func anUnknownRepositoryWithAValidOrgSecretIsIgnored() async throws {
        try await withDaemon("unknown-repo") { daemon in
            let reply = try await daemon.deliver(
                event: "push", payload: pushPayload(repository: "acme/unknown"), secret: TestSecrets.organization)
            #expect(reply.status == 202)
            #expect(reply.json["ignored"] as? String == "repository 'acme/unknown' is not configured")
            let unsigned = try await daemon.deliver(event: "push", payload: pushPayload(repository: "acme/unknown"), secret: secret)
            #expect(unsigned.status == 401, "a repository secret does not sign for an unknown repository")
            #expect(try await buildCount(daemon) == 0)
        }
    }

    @Test func filteredDeliveriesAreIgnoredWithAReason() async throws {
        try await withDaemon("filters") { daemon in
            let fixture = try TestPaths.fixture("github-webhooks/push/with-new-branch.payload.json")
            var object = try JSONSerialization.jsonObject(with: Data(fixture)) as! [String: Any]
            object["ref"] = "refs/heads/feature/x"
            let otherBranch = Array(try JSONSerialization.data(withJSONObject: object))
            let cases: [(String, [UInt8], String)] = [
                ("branch not configured", otherBranch, "branch"),
                ("deleted ref", pushPayload(deleted: true), "deleted"),
                ("[skip ci]", pushPayload(message: "Tweak docs [skip ci]"), "[skip ci]"),
                ("[ci skip]", pushPayload(message: "Tweak docs\n\n[ci skip]"), "[ci skip]"),
            ]
            for (name, body, fragment) in cases {
                let reply = try await daemon.deliver(event: "push", payload: body, secret: secret)
                #expect(reply.status == 202, "\(name): \(reply.text)")
                let reason = reply.json["ignored"] as? String ?? ""
                #expect(reason.contains(fragment), "\(name): \(reply.text)")
            }
            #expect(try await buildCount(daemon) == 0)
        }
    }

    @Test func aRedeliveryIsADuplicate() async throws {
        try await withDaemon("duplicate") { daemon in
            let body = pushPayload()
            let first = try await daemon.deliver(event: "push", payload: body, secret: secret, deliveryID: "same-id")
            let again = try await daemon.deliver(event: "push", payload: body, secret: secret, deliveryID: "same-id")
            #expect(first.status == 202)
            #expect(again.status == 200)
            #expect(again.json["duplicate"] as? Bool == true)
            #expect(daemon.buildID(of: again) == daemon.buildID(of: first))
            let ping = try TestPaths.fixture("github-webhooks/ping/payload.json")
            _ = try await daemon.deliver(event: "ping", payload: ping, secret: secret, deliveryID: "ping-id")
            let pingAgain = try await daemon.deliver(event: "ping", payload: ping, secret: secret, deliveryID: "ping-id")
            #expect(pingAgain.status == 200)
            #expect(pingAgain.json["duplicate"] as? Bool == true)
            #expect(pingAgain.json.keys.contains("build"))
            #expect(pingAgain.json["build"] is NSNull)
        }
    }

    @Test func sixtyFourConcurrentRedeliveriesGiveOneBuild() async throws {
        try await withDaemon("concurrent-duplicates") { daemon in
            let body = pushPayload()
            let replies = try await withThrowingTaskGroup(of: DaemonHarness.Reply.self) { group in
                for _ in 0..<64 {
                    group.addTask { try await daemon.deliver(event: "push", payload: body, secret: secret, deliveryID: "one-id") }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.filter { $0.status == 202 }.count == 1)
            #expect(replies.filter { $0.status == 200 && $0.json["duplicate"] as? Bool == true }.count == 63)
            #expect(Set(replies.compactMap { daemon.buildID(of: $0) }).count == 1)
            #expect(try await buildCount(daemon) == 1)
        }
    }

    @Test func missingHeadersAndUnparseablePayloadsGet400() async throws {
        try await withDaemon("bad-request") { daemon in
            let body = pushPayload()
            let signature = ("X-Hub-Signature-256", signed(body, secret))
            let noDelivery = try await post(
                daemon, body: body,
                headers: [
                    ("Content-Type", "application/json"), ("X-GitHub-Event", "push"), signature,
                ])
            #expect(noDelivery.status == 400)
            #expect((noDelivery.json["error"] as? String ?? "").contains("X-GitHub-Delivery"), "\(noDelivery.text)")
            let noEvent = try await post(
                daemon, body: body,
                headers: [
                    ("Content-Type", "application/json"), ("X-GitHub-Delivery", UUID().uuidString), signature,
                ])
            #expect(noEvent.status == 400)
            #expect((noEvent.json["error"] as? String ?? "").contains("X-GitHub-Event"), "\(noEvent.text)")

            for garbage in ["{not json", "[]", "{\"ref\": 42}"] {
                let bytes = Array(garbage.utf8)
                let reply = try await post(
                    daemon, body: bytes,
                    headers: [
                        ("Content-Type", "application/json"), ("X-GitHub-Event", "push"),
                        ("X-GitHub-Delivery", UUID().uuidString), ("X-Hub-Signature-256", signed(bytes, secret)),
                    ])
                #expect(reply.status == 400, "\(garbage): \(reply.text)")
                #expect(reply.json["error"] is String, "\(garbage): \(reply.text)")
            }
            let form = Array("other=1".utf8)
            let noPayload = try await post(
                daemon, body: form,
                headers: [
                    ("Content-Type", "application/x-www-form-urlencoded"), ("X-GitHub-Event", "push"),
                    ("X-GitHub-Delivery", UUID().uuidString), ("X-Hub-Signature-256", signed(form, secret)),
                ])
            #expect(noPayload.status == 400, "\(noPayload.text)")
            #expect(try await buildCount(daemon) == 0)
        }
    }

    @Test func otherContentTypesGet415AndOtherMethods405() async throws {
        try await withDaemon("media-method") { daemon in
            let body = pushPayload()
            let reply = try await post(
                daemon, body: body,
                headers: [
                    ("Content-Type", "text/plain"), ("X-GitHub-Event", "push"),
                    ("X-GitHub-Delivery", UUID().uuidString), ("X-Hub-Signature-256", signed(body, secret)),
                ])
            #expect(reply.status == 415)
            // Media types are case-insensitive and may carry parameters.
            let spelled = try await post(
                daemon, body: body,
                headers: [
                    ("Content-Type", " Application/JSON ; charset=utf-8"), ("X-GitHub-Event", "push"),
                    ("X-GitHub-Delivery", UUID().uuidString), ("X-Hub-Signature-256", signed(body, secret)),
                ])
            #expect(spelled.status == 202, "\(spelled.text)")
            for method in ["GET", "PUT", "DELETE", "PATCH"] {
                let other = try await daemon.request(method, "/webhooks/github", headers: [], body: nil)
                #expect(other.status == 405, "\(method)")
                #expect(other.headers.contains { $0.0.lowercased() == "allow" && $0.1 == "POST" }, "\(method)")
            }
        }
    }

    @Test func aBodyOverTheLimitGets413WithoutBeingBuffered() async throws {
        try await withDaemon("too-large") { daemon in
            // curl sends the upload, as GitHub would, and reads the early 413 while the
            // server refuses the rest: first with Content-Length (refused before reading),
            // then chunked (reading stops at the limit).
            let big = [UInt8](repeating: UInt8(ascii: "a"), count: 30 * 1024 * 1024)
            let directory = try TestPaths.temporaryDirectory("big")
            defer { TestPaths.removeTemporaryDirectory(directory) }
            let file = directory.appendingPathComponent("body.json")
            try Data(big).write(to: file)
            for chunked in [false, true] {
                let code = try await blocking {
                    try curlPost(
                        daemon, file: file.path,
                        headers: [
                            "Content-Type: application/json", "X-GitHub-Event: push", "X-GitHub-Delivery: \(UUID().uuidString)",
                            "X-Hub-Signature-256: \(signed(big, secret))",
                        ] + (chunked ? ["Transfer-Encoding: chunked"] : []))
                }
                #expect(code == "413", "chunked: \(chunked)")
            }
            #expect(try await buildCount(daemon) == 0)
            #expect(try await daemon.get("/healthz").status == 200, "still serving afterwards")
        }
    }

    /// POSTs a file with curl and returns the status code curl printed.
    func curlPost(_ daemon: DaemonHarness, file: String, headers: [String]) throws -> String {
        let arguments =
            ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--data-binary", "@\(file)"]
            + headers.flatMap { ["-H", $0] } + [daemon.baseURL + "/webhooks/github"]
        return try runProgram("/usr/bin/curl", arguments).output
    }

    @Test func aPingIsAnswered() async throws {
        try await withDaemon("ping") { daemon in
            let reply = try await daemon.deliver(
                event: "ping", payload: try TestPaths.fixture("github-webhooks/ping/with-organization.payload.json"),
                secret: TestSecrets.organization)
            #expect(reply.status == 200)
            #expect(reply.json["pong"] as? Bool == true)
        }
    }
}
