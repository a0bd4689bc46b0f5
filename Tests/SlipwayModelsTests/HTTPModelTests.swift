import Foundation
import SlipwayCore
import SlipwayModels
import SlipwayTesting
import Testing

/// https:// (here plain HTTP on loopback) and file:// sources.
@Suite struct HTTPModelTests {
    func fetch(_ source: String, token: String?, cache: ModelCache) async throws -> ModelFetcher.Result {
        var model = ModelConfig(source: source, dest: "m")
        model.bearerToken = token.map { _ in .environment("TOKEN") }
        let location = try #require(ModelLocation(source))
        let store = try ModelFetcher.store(for: model, location: location) { $0 == .environment("TOKEN") ? token : nil }
        let fetcher = ModelFetcher(
            cache: cache,
            downloader: {
                var d = ModelDownloader(); d.firstBackoff = .milliseconds(50); return d
            }())
        return try await fetcher.fetch(location, object: try await fetcher.resolve(location, store: store), store: store)
    }

    static func payload(_ size: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: ($0 * 7919) >> 3) } }

    /// A store's own checksum (here Content-MD5, as Azure Blob sends it) is compared with
    /// the bytes received: a match is recorded for the provenance, a mismatch fails the fetch.
    @Test func theStoresChecksumIsComparedAndAModelAlteredInTransitIsRefused() async throws {
        let server = try BlobHTTPServer(bearerToken: nil)
        defer { server.stop() }
        let bytes = Self.payload(300_000)
        for name in ["good.onnx", "altered.onnx", "plain.onnx"] { try Data(bytes).write(to: server.root.appendingPathComponent(name)) }
        let md5 = Data(Self.md5(bytes)).base64EncodedString()
        try md5.write(to: server.root.appendingPathComponent("good.onnx.content-md5"), atomically: true, encoding: .utf8)
        var altered = Self.md5(bytes)
        altered[0] ^= 1
        try Data(altered).base64EncodedString().write(
            to: server.root.appendingPathComponent("altered.onnx.content-md5"), atomically: true, encoding: .utf8)
        try await server.waitUntilListening()
        let state = try TestPaths.temporaryDirectory("http-model-md5")
        defer { TestPaths.removeTemporaryDirectory(state) }
        let cache = ModelCache(stateDirectory: state.path)
        let good = try await fetch(server.baseURL + "/good.onnx", token: nil, cache: cache)
        #expect(good.entry.storeCheck == "matched Content-MD5")
        #expect(
            try await fetch(server.baseURL + "/good.onnx", token: nil, cache: cache).entry.storeCheck == "matched Content-MD5",
            "kept in the cache")
        #expect(try await fetch(server.baseURL + "/plain.onnx", token: nil, cache: cache).entry.storeCheck == "not offered by the store")
        await #expect {
            _ = try await fetch(server.baseURL + "/altered.onnx", token: nil, cache: cache)
        } throws: { error in
            guard let error = error as? ModelError else { return false }
            return error.kind == .integrity && error.message.contains("does not match the store: its MD5")
        }
    }

    static func md5(_ bytes: [UInt8]) -> [UInt8] {
        let stream = SHA256Stream(md5: true)
        stream.update(bytes)
        return Array(hexString: stream.finish()) ?? []
    }

    @Test func aBearerTokenIsRequiredAndAnUnchangedModelIsNotDownloadedAgain() async throws {
        let token = "model-token-" + UUID().uuidString
        let server = try BlobHTTPServer(bearerToken: token)
        defer { server.stop() }
        let bytes = Self.payload(2_000_000)
        try Data(bytes).write(to: server.root.appendingPathComponent("model.onnx"))
        try await server.waitUntilListening()
        let state = try TestPaths.temporaryDirectory("http-model")
        defer { TestPaths.removeTemporaryDirectory(state) }
        let cache = ModelCache(stateDirectory: state.path)
        let source = server.baseURL + "/model.onnx"

        await #expect { _ = try await fetch(source, token: nil, cache: cache) } throws: { ($0 as? ModelError)?.kind == .denied }
        let first = try await fetch(source, token: token, cache: cache)
        #expect(first.provenance.sha256 == Crypto.sha256(bytes).hexString)
        #expect(first.transferred == Int64(bytes.count))
        let sentBefore = server.bytesSent
        let second = try await fetch(source, token: token, cache: cache)
        #expect(second.cacheHit)
        #expect(second.transferred == 0)
        #expect(server.bytesSent == sentBefore, "a cache hit moves 0 bytes")
        #expect(server.requests.last?.contains("status=304") == true, "\(server.requests)")
    }

    @Test func aDroppedConnectionResumesWithARangeRequest() async throws {
        let server = try BlobHTTPServer(dropFirstDownloadHalfway: true)
        defer { server.stop() }
        let bytes = Self.payload(5_000_000)
        try Data(bytes).write(to: server.root.appendingPathComponent("big.onnx"))
        try await server.waitUntilListening()
        let state = try TestPaths.temporaryDirectory("resume")
        defer { TestPaths.removeTemporaryDirectory(state) }
        let result = try await fetch(server.baseURL + "/big.onnx", token: nil, cache: ModelCache(stateDirectory: state.path))
        #expect(result.provenance.sha256 == Crypto.sha256(bytes).hexString)
        #expect(result.entry.size == Int64(bytes.count))
        #expect(result.transferred == Int64(bytes.count), "only the missing half was fetched again")
        // The first response stopped half-way (2,500,000 bytes sent at most); the second
        // asked for the rest only.
        #expect(
            server.requests.contains { $0.contains("range=bytes=") && !$0.contains("range=bytes=0-") && $0.contains("status=206") },
            "\(server.requests)")
    }

    @Test func fileSourcesAreHashedAndCached() async throws {
        let directory = try TestPaths.temporaryDirectory("file-model")
        defer { TestPaths.removeTemporaryDirectory(directory) }
        let models = directory.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try Data("old".utf8).write(to: models.appendingPathComponent("a.onnx"))
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: models.appendingPathComponent("a.onnx").path)
        try Data("new".utf8).write(to: models.appendingPathComponent("b.onnx"))
        let cache = ModelCache(stateDirectory: directory.appendingPathComponent("state").path)
        let latest = try await fetch("file://\(models.path)/*.onnx", token: nil, cache: cache)
        #expect(latest.provenance.source == "file://\(models.path)/b.onnx")
        #expect(latest.provenance.sha256 == Crypto.sha256(Array("new".utf8)).hexString)
        let again = try await fetch("file://\(models.path)/b.onnx", token: nil, cache: cache)
        #expect(again.cacheHit)
        await #expect { _ = try await fetch("file://\(models.path)/missing.onnx", token: nil, cache: cache) } throws: {
            ($0 as? ModelError)?.kind == .notFound
        }
    }

    @Test func locationsAreParsed() throws {
        let glob = try #require(ModelLocation("s3://models/resnet/*.onnx"))
        #expect(glob.store == .s3(bucket: "models") && glob.path == "resnet/" && glob.pattern == "*.onnx")
        let folder = try #require(ModelLocation("azblob://acct/models/resnet/"))
        #expect(folder.store == .azure(account: "acct", container: "models") && folder.path == "resnet/" && folder.pattern == "*")
        #expect(ModelLocation("s3://models/resnet/v1.onnx")?.isLatest == false)
        #expect(ModelLocation("gs://x/y") == nil)
        #expect(ModelLocation("https://host/a/*.onnx") == nil, "https cannot be listed")
    }
}
