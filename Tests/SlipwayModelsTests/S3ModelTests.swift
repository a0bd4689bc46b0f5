import Foundation
import SlipwayCore
import SlipwayModels
import SlipwayTesting
import Testing

/// S3 against moto_server with signatures enforced (its IAM mode): real SigV4 requests.
@Suite(.serialized) struct S3ModelTests {
    static func withMoto(_ body: (MotoHarness, URL) async throws -> Void) async throws {
        let moto = try MotoHarness()
        defer { moto.stop() }
        try await moto.start()
        let files = try TestPaths.temporaryDirectory("s3-files")
        defer { TestPaths.removeTemporaryDirectory(files) }
        _ = try await blocking { try moto.aws(["s3api", "create-bucket", "--bucket", "models"]) }
        try await body(moto, files)
    }

    static func upload(_ moto: MotoHarness, _ files: URL, key: String, bytes: [UInt8]) async throws {
        let file = files.appendingPathComponent(UUID().uuidString)
        try Data(bytes).write(to: file)
        _ = try await blocking { try moto.aws(["s3api", "put-object", "--bucket", "models", "--key", key, "--body", file.path]) }
    }

    func model(_ source: String, _ moto: MotoHarness, secret: String? = nil) -> (ModelConfig, [SecretReference: String]) {
        var model = ModelConfig(source: source, dest: "model/model.onnx")
        model.s3 = ModelConfig.S3(
            region: "us-east-1", endpoint: moto.endpoint, accessKeyID: .environment("ID"),
            secretAccessKey: .environment("KEY"), sessionToken: nil, pathStyle: true)
        return (model, [.environment("ID"): moto.accessKeyID, .environment("KEY"): secret ?? moto.secretAccessKey])
    }

    func fetch(_ source: String, _ moto: MotoHarness, cache: ModelCache, secret: String? = nil) async throws -> ModelFetcher.Result {
        let (model, secrets) = self.model(source, moto, secret: secret)
        let location = try #require(ModelLocation(source))
        let store = try ModelFetcher.store(for: model, location: location) { secrets[$0] }
        let fetcher = ModelFetcher(cache: cache)
        let object = try await fetcher.resolve(location, store: store)
        return try await fetcher.fetch(location, object: object, store: store)
    }

    @Test func aSignedDownloadIsVerifiedAndCachedAndTheSecondFetchTransfersNothing() async throws {
        try await Self.withMoto { moto, files in
            let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try await Self.upload(moto, files, key: "resnet/v1.onnx", bytes: bytes)
            let cache = ModelCache(stateDirectory: files.appendingPathComponent("state").path)
            let first = try await fetch("s3://models/resnet/v1.onnx", moto, cache: cache)
            #expect(first.provenance.sha256 == Crypto.sha256(bytes).hexString)
            #expect(first.transferred == Int64(bytes.count))
            #expect(first.provenance.source == "s3://models/resnet/v1.onnx")
            // S3's ETag of a single-part upload is the MD5 of the bytes, in quotes on the wire.
            let version = try #require(first.provenance.version)
            #expect(version.count == 32 && version.allSatisfy(\.isHexDigit), "the ETag is recorded without its quotes: \(version)")
            #expect(first.entry.storeCheck == "matched ETag (MD5 of a single-part upload)", "moto's ETag is the MD5 of the bytes")
            #expect(FileManager.default.contents(atPath: first.entry.path) == Data(bytes))
            let second = try await fetch("s3://models/resnet/v1.onnx", moto, cache: cache)
            #expect(second.cacheHit)
            #expect(second.transferred == 0)
        }
    }

    @Test func latestPicksTheNewestMatchingObject() async throws {
        try await Self.withMoto { moto, files in
            try await Self.upload(moto, files, key: "resnet/v1.onnx", bytes: Array("one".utf8))
            try await Task.sleep(for: .milliseconds(1100))
            try await Self.upload(moto, files, key: "resnet/v2.onnx", bytes: Array("two".utf8))
            try await Task.sleep(for: .milliseconds(1100))
            try await Self.upload(moto, files, key: "resnet/notes.txt", bytes: Array("not a model".utf8))
            try await Self.upload(moto, files, key: "resnet/old/v9.onnx", bytes: Array("nested".utf8))
            let cache = ModelCache(stateDirectory: files.appendingPathComponent("state").path)
            let glob = try await fetch("s3://models/resnet/*.onnx", moto, cache: cache)
            #expect(glob.provenance.source == "s3://models/resnet/v2.onnx")
            #expect(FileManager.default.contents(atPath: glob.entry.path) == Data("two".utf8))
            let folder = try await fetch("s3://models/resnet/", moto, cache: cache)
            #expect(folder.provenance.source == "s3://models/resnet/notes.txt", "a trailing / takes the newest of any name")
            let cached = try await fetch("s3://models/resnet/*.onnx", moto, cache: cache)
            #expect(cached.cacheHit && cached.transferred == 0)
        }
    }

    @Test func aWrongSecretKeyIsRefusedAndNeverNamed() async throws {
        try await Self.withMoto { moto, files in
            try await Self.upload(moto, files, key: "resnet/v1.onnx", bytes: Array("model".utf8))
            let cache = ModelCache(stateDirectory: files.appendingPathComponent("state").path)
            let wrong = "wrong-secret-" + UUID().uuidString
            await #expect {
                _ = try await fetch("s3://models/resnet/v1.onnx", moto, cache: cache, secret: wrong)
            } throws: { error in
                guard let error = error as? ModelError else { return false }
                return error.kind == .denied && error.description.contains("SignatureDoesNotMatch")
                    && error.description.contains("s3://models/resnet/v1.onnx") && !error.description.contains(wrong)
                    && !error.description.contains(moto.secretAccessKey)
            }
            await #expect {
                _ = try await fetch("s3://models/resnet/*.onnx", moto, cache: cache, secret: wrong)
            } throws: { ($0 as? ModelError)?.kind == .denied }
        }
    }

    @Test func aMissingObjectIsNamed() async throws {
        try await Self.withMoto { moto, files in
            let cache = ModelCache(stateDirectory: files.appendingPathComponent("state").path)
            await #expect {
                _ = try await fetch("s3://models/nothing/here.onnx", moto, cache: cache)
            } throws: { error in
                (error as? ModelError)?.kind == .notFound && "\(error)".contains("s3://models/nothing/here.onnx")
            }
        }
    }
}
