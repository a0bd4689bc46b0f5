import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

/// `model.watch` with the real daemon: a local HTTP model host, a local git repository.
@Suite struct ModelWatchTests {
    @Test func aChangedModelQueuesExactlyOneBuildOfTheDefaultBranchAndNoChangeQueuesNone() async throws {
        let server = try BlobHTTPServer()
        defer { server.stop() }
        let modelFile = server.root.appendingPathComponent("resnet.onnx")
        try Data("model v1".utf8).write(to: modelFile)
        try await server.waitUntilListening()
        let repository = try await blocking { try GitFixture(label: "watch", files: ["README.md": "watched\n"]) }
        defer { repository.remove() }
        let extra = """
                model:
                  source: \(server.baseURL)/resnet.onnx
                  dest: model/model.onnx
                  watch: 1s
            """
        let daemon = try DaemonHarness(label: "watch", environment: TestSecrets.environment) { port, state in
            testConfig(port: port, stateDirectory: state, test: ["true"], cloneURL: repository.bareURL, appRepositoryExtra: extra)
        }
        try await daemon.run { daemon in
            let store = try daemon.openStore()
            try await Task.sleep(for: .seconds(3.5))
            #expect(try await store.builds(.init()).isEmpty, "no change, no build")

            try Data("model v2, retrained".utf8).write(to: modelFile)
            // Two polls 1 s apart settle the new version; under a full suite (buildah builds
            // beside it) the poll, `git ls-remote` and the write can take far longer.
            try await eventually(timeout: .seconds(60)) { try await store.builds(.init()).count == 1 }
            try await Task.sleep(for: .seconds(3.5))
            let builds = try await store.builds(.init())
            #expect(builds.count == 1, "one build per change: \(builds.map(\.id))")
            let build = try #require(builds.first)
            #expect(build.trigger == .model)
            #expect(build.ref == "refs/heads/main")
            #expect(build.sha.hex == repository.head)
            let ended = try await daemon.waitForEnd(of: build.id, timeout: .seconds(60))
            #expect(ended.state == .success, "\(ended.reason ?? "")")
            #expect(ended.model?.sha256 == Crypto.sha256(Array("model v2, retrained".utf8)).hexString)
        }
    }
}
