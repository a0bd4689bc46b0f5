import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

/// `GET /metrics` of a real daemon after real work, read with Prometheus's own Python
/// client parser (`prometheus_client.parser`), not with a parser of ours.
@Suite struct MetricsTests {
    @Test func metricsAfterABuildParseAsPrometheusTextAndCountWhatHappened() async throws {
        let github = try FakeGitHubAPI()
        defer { github.remove() }
        try await github.start()
        try github.script(["500"])   // the first status post fails and is retried
        let scratch = try TestPaths.temporaryDirectory("metrics")
        defer { TestPaths.removeTemporaryDirectory(scratch) }
        let model = scratch.appendingPathComponent("model.onnx")
        try Data(repeating: 7, count: 1000).write(to: model)
        var env = TestSecrets.environment
        env["TEST_GITHUB_TOKEN"] = github.token
        _ = await blocking { TestRepository.shared }
        let daemon = try DaemonHarness(label: "metrics", environment: env) { port, state in
            testConfig(
                port: port, stateDirectory: state,
                appRepositoryExtra: """
                        model:
                          source: file://\(model.path)
                          dest: model/model.onnx
                    """, topLevelExtra: CommitStatusTests.githubYAML(github))
        }
        try await daemon.run { daemon in
            let payload = pushPayload()
            let delivery = UUID().uuidString
            let id = try #require(
                daemon.buildID(
                    of: try await daemon.deliver(event: "push", payload: payload, secret: TestSecrets.repository, deliveryID: delivery)))
            #expect(
                try await daemon.deliver(event: "push", payload: payload, secret: TestSecrets.repository, deliveryID: delivery).status
                    == 200)
            #expect(try await daemon.deliver(event: "push", payload: payload, secret: "wrong").status == 401)
            #expect(try await daemon.waitForEnd(of: id).state == .success)
            try await eventually(timeout: .seconds(30)) { github.requests.contains { $0.status == 500 } }

            let reply = try await daemon.request("GET", "/metrics", headers: [], body: nil)   // no token needed
            #expect(reply.status == 200)
            #expect(reply.headers.first { $0.0.lowercased() == "content-type" }?.1.hasPrefix("text/plain; version=0.0.4") == true)
            let parsed = try await Self.parseWithPrometheusClient(reply.text, in: scratch)
            let samples = parsed.samples, types = parsed.types

            #expect(
                types["slipway_deliveries"] == "counter" && types["slipway_builds"] == "gauge" && types["slipway_queue_depth"] == "gauge")
            #expect(types["slipway_build_duration_seconds"] == "histogram" && types["slipway_step_duration_seconds"] == "histogram")
            #expect(types["slipway_model_bytes_downloaded"] == "counter" && types["slipway_status_post_failures"] == "counter")
            #expect(samples[#"slipway_deliveries_total{result="queued"}"#] == 1)
            #expect(samples[#"slipway_deliveries_total{result="duplicate"}"#] == 1)
            #expect(samples[#"slipway_deliveries_total{result="unauthorized"}"#] == 1)
            #expect(samples[#"slipway_deliveries_total{result="too_large"}"#] == 0, "declared at 0 before the first one")
            #expect(samples[#"slipway_status_post_failures_total{kind="given_up"}"#] == 0)
            #expect(samples[#"slipway_builds{state="success"}"#] == 1 && samples[#"slipway_builds{state="running"}"#] == 0)
            #expect(samples["slipway_queue_depth"] == 0)
            #expect(samples[#"slipway_build_duration_seconds_count{repository="acme/app",state="success"}"#] == 1)
            #expect(samples[#"slipway_build_duration_seconds_bucket{le="3600.0",repository="acme/app",state="success"}"#] == 1)
            for step in ["checkout", "test", "model"] {
                #expect(samples[#"slipway_step_duration_seconds_count{outcome="success",step="\#(step)"}"#] == 1, "\(step)")
            }
            #expect(samples["slipway_model_bytes_downloaded_total"] == 1000)
            #expect((samples[#"slipway_status_post_failures_total{kind="retry"}"#] ?? 0) >= 1, "\(reply.text)")
        }
    }

    /// `{"types": {family: type}, "samples": {"name{k="v",...}": value}}` from prometheus_client.
    static func parseWithPrometheusClient(_ text: String, in directory: URL) async throws -> (
        types: [String: String], samples: [String: Double]
    ) {
        let input = directory.appendingPathComponent("metrics.txt")
        try text.write(to: input, atomically: true, encoding: .utf8)
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            types, samples = {}, {}
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                types[family.name] = family.type
                for s in family.samples:
                    labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
                    samples[s.name + ("{%s}" % labels if labels else "")] = s.value
            print(json.dumps({"types": types, "samples": samples}))
            """
        let python = try PythonTools.python()
        let (status, output) = try await blocking { try runProgram(python, ["-c", script, input.path]) }
        guard status == 0, let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] else {
            throw HarnessError("prometheus_client could not parse /metrics (exit \(status)): \(output)")
        }
        return (object["types"] as? [String: String] ?? [:], object["samples"] as? [String: Double] ?? [:])
    }
}
