import AsyncHTTPClient
import Foundation
import NIOCore
import SlipwayCore
import SlipwayTesting
import Synchronization
import Testing

/// Faults with the real daemon: killed in the middle of a burst, parts of the outside
/// world unreachable.
@Suite struct FaultTests {
    /// 2,000 deliveries over 8 connections; SIGKILL once 500 have been acknowledged, and a
    /// restart while the burst goes on (deliveries sent meanwhile fail, as GitHub would see
    /// it). In the end every delivery that got a 2xx is in the database with exactly one build.
    @Test func sigkillDuringABurstLosesNoAcknowledgedDelivery() async throws {
        _ = await blocking { TestRepository.shared }
        let daemon = try DaemonHarness(label: "burst", environment: TestSecrets.environment) { port, state in
            testConfig(port: port, stateDirectory: state, workers: 1, test: ["true"])
        }
        defer { Task { await daemon.shutdown() } }
        try await daemon.start()
        let payload = pushPayload()
        let signature = WebhookSignature.sha256Header(body: payload, secret: Array(TestSecrets.repository.utf8))
        let burst = Burst()
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(timeout: .init(connect: .seconds(2))))
        defer { _ = Task { try? await client.shutdown() } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    while burst.sent.add(1, ordering: .relaxed).newValue <= 2000 {
                        let id = UUID().uuidString
                        var request = HTTPClientRequest(url: daemon.baseURL + "/webhooks/github")
                        request.method = .POST
                        request.headers.add(contentsOf: [
                            ("Content-Type", "application/json"), ("X-GitHub-Event", "push"),
                            ("X-GitHub-Delivery", id), ("X-Hub-Signature-256", signature),
                        ])
                        request.body = .bytes(ByteBuffer(bytes: payload))
                        guard let response = try? await client.execute(request, timeout: .seconds(10)) else { continue }
                        _ = try? await response.body.collect(upTo: 1 << 16)
                        if (200..<300).contains(response.status.code) {
                            let count = burst.acknowledged.withLock {
                                $0.append(id); return $0.count
                            }
                            if count == 500, !burst.killed.exchange(true, ordering: .relaxed) {
                                _ = try? await daemon.stop(signal: SIGKILL)
                                try await daemon.start()
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let acked = burst.acknowledged.withLock { $0 }
        #expect(acked.count > 1000, "most of the burst reached the restarted daemon")
        let wasKilled = burst.killed.load(ordering: .relaxed)
        #expect(wasKilled, "the daemon was killed mid-burst")

        try await daemon.stop(signal: SIGKILL)   // once more, after the burst, then look
        try await daemon.start()
        #expect(try await daemon.request("GET", "/readyz", headers: [], body: nil).status == 200)
        let database = daemon.databasePath
        let (status, rows) = try await blocking {
            try runProgram(
                "/usr/bin/env",
                [
                    "sqlite3", database,
                    "SELECT d.id, COUNT(b.id) FROM delivery d LEFT JOIN build b ON b.delivery_id = d.id GROUP BY d.id",
                ],
                stdoutOnly: true)
        }
        #expect(status == 0)
        var buildsPerDelivery: [String: Int] = [:]
        for line in rows.split(separator: "\n") {
            let parts = line.split(separator: "|")
            if parts.count == 2 { buildsPerDelivery[String(parts[0])] = Int(parts[1]) }
        }
        let lost = acked.filter { buildsPerDelivery[$0] == nil }
        let notOne = acked.filter { buildsPerDelivery[$0] != nil && buildsPerDelivery[$0] != 1 }
        #expect(lost.isEmpty, "\(lost.count) of \(acked.count) acknowledged deliveries are missing")
        #expect(notOne.isEmpty, "\(notOne.count) acknowledged deliveries do not have exactly one build")
        print("burst: \(acked.count) of 2000 acknowledged across a SIGKILL and a restart, \(buildsPerDelivery.count) deliveries stored")
        try await daemon.stop()
    }

    /// S3 and the git host unreachable: each build ends `error` naming what was not
    /// reached, and the daemon stays ready and keeps taking deliveries. (The registry
    /// case is PipelineEndToEndTests.anUnreachableRegistryIsAnError; GitHub's status API
    /// down is CommitStatusTests.theOutboxSurvivesARestart.)
    @Test func unreachableS3AndGitHostAreErrorsAndTheDaemonKeepsServing() async throws {
        let s3Port = freeLoopbackPort(), gitPort = freeLoopbackPort()
        var env = TestSecrets.environment
        env["TEST_AWS_KEY"] = "AKIAEXAMPLE"
        env["TEST_AWS_SECRET"] = "secret-" + UUID().uuidString
        _ = await blocking { TestRepository.shared }
        let extra = """
                model:
                  source: s3://models/app/model.onnx
                  dest: model/model.onnx
                  s3: {region: us-east-1, endpoint: "http://127.0.0.1:\(s3Port)", access_key_id: env:TEST_AWS_KEY, secret_access_key: env:TEST_AWS_SECRET}
              - name: acme/githost
                webhook_secrets: [env:TEST_WEBHOOK_SECRET]
                clone_url: http://127.0.0.1:\(gitPort)/acme/githost.git
                test: ["true"]
            """
        let daemon = try DaemonHarness(label: "unreachable", environment: env) { port, state in
            testConfig(port: port, stateDirectory: state, appRepositoryExtra: extra)
        }
        try await daemon.run { daemon in
            let s3Build = try #require(
                daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: TestSecrets.repository)))
            let gitBuild = try #require(
                daemon.buildID(
                    of: try await daemon.deliver(
                        event: "push", payload: pushPayload(repository: "acme/githost"), secret: TestSecrets.repository)))
            let s3 = try await daemon.waitForEnd(of: s3Build, timeout: .seconds(120))
            #expect(s3.state == .error && (s3.reason ?? "").contains("s3://models/app/model.onnx"), "\(s3.reason ?? "")")
            let git = try await daemon.waitForEnd(of: gitBuild, timeout: .seconds(120))
            #expect(git.state == .error && (git.reason ?? "").contains("127.0.0.1:\(gitPort)"), "\(git.reason ?? "")")
            #expect(try await daemon.request("GET", "/readyz", headers: [], body: nil).status == 200)
            #expect(
                try await daemon.deliver(event: "push", payload: pushPayload(branch: "after"), secret: TestSecrets.repository).status == 202
            )
            #expect(!daemon.daemonLog().contains(env["TEST_AWS_SECRET"]!))
        }
    }
}

/// What the sending tasks of a burst share.
final class Burst: Sendable {
    let acknowledged = Mutex<[String]>([])
    let sent = Atomic<Int>(0)
    let killed = Atomic<Bool>(false)
}
