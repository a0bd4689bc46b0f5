import Foundation
import SlipwayCore
import SlipwayModels
import SlipwayTesting
import Testing

/// The Shared Key signer against what Microsoft's own Python SDK (azure-storage-blob)
/// produces for the same requests: string-to-sign and Authorization header.
@Suite struct AzureSharedKeyTests {

    struct Case {
        let method: String
        let path: String
        let query: [(name: String, value: String)]
        let headers: [String: String]
    }

    @Test func stringToSignAndAuthorizationMatchTheAzureSDK() async throws {
        let key = Data((0..<64).map { UInt8($0) }).base64EncodedString()
        let date = "Wed, 25 Nov 2026 10:00:00 GMT"
        let cases = [
            Case(
                method: "GET", path: "/models/resnet/v1.onnx", query: [],
                headers: ["x-ms-date": date, "x-ms-version": "2021-08-06", "x-ms-range": "bytes=1048576-"]),
            Case(
                method: "GET", path: "/models", query: [("restype", "container"), ("comp", "list"), ("prefix", "resnet/")],
                headers: ["x-ms-date": date, "x-ms-version": "2021-08-06"]),
            Case(
                method: "GET", path: "/models/team%20a/model.onnx", query: [],
                headers: ["x-ms-date": date, "x-ms-version": "2021-08-06", "If-None-Match": "\"0x8DC\""]),
        ]
        let input = cases.map { item -> [String: Any] in
            let query = item.query.map { "\($0.name)=\(SigV4.uriEncode($0.value))" }.joined(separator: "&")
            return [
                "method": item.method, "account": "slipwaytest", "key": key, "headers": item.headers,
                "url": "https://slipwaytest.blob.core.windows.net\(item.path)" + (query.isEmpty ? "" : "?" + query),
            ]
        }
        let directory = try TestPaths.temporaryDirectory("azure-sdk")
        defer { TestPaths.removeTemporaryDirectory(directory) }
        try JSONSerialization.data(withJSONObject: input).write(to: directory.appendingPathComponent("cases.json"))
        let reference = TestPaths.fake("azure_shared_key_reference.py").path
        // Python starts in seconds on a busy machine: off the cooperative pool.
        let result = try await blocking {
            try runProgram("/bin/sh", ["-c", "'\(try PythonTools.python())' '\(reference)' < cases.json"], in: directory)
        }
        #expect(result.status == 0, "\(result.output)")
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: String]])
        let signer = try #require(AzureSharedKey(account: "slipwaytest", base64Key: key))
        for (index, item) in cases.enumerated() {
            // The path as sent, URI-encoded, is what both sign.
            let decodedPath = item.path
            let ours = signer.stringToSign(method: item.method, path: decodedPath, query: item.query, headers: item.headers)
            #expect(ours == expected[index]["stringToSign"], "case \(index)")
            #expect(
                signer.authorization(method: item.method, path: decodedPath, query: item.query, headers: item.headers)
                    == expected[index]["authorization"], "case \(index)")
        }
    }
}

/// Downloads from a local server playing Azure Blob Storage (it is not Azure): every
/// request's Shared Key is recomputed there with Microsoft's SDK and refused on mismatch.
@Suite struct AzureBlobDownloadTests {
    @Test func sharedKeyListingAndDownloadAreAcceptedAndAWrongKeyIsRefused() async throws {
        let key = Data((0..<64).map { UInt8(($0 * 13) & 0xff) }).base64EncodedString()
        let server = try BlobHTTPServer(azureAccount: ("slipwaytest", key))
        defer { server.stop() }
        let blobs = server.root.appendingPathComponent("slipwaytest/models/resnet")
        try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
        let bytes = (0..<1_500_000).map { UInt8(truncatingIfNeeded: $0 >> 2) }
        try Data("old".utf8).write(to: blobs.appendingPathComponent("v1.onnx"))
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -120)], ofItemAtPath: blobs.appendingPathComponent("v1.onnx").path)
        try Data(bytes).write(to: blobs.appendingPathComponent("v2.onnx"))
        try await server.waitUntilListening()
        let state = try TestPaths.temporaryDirectory("azure-state")
        defer { TestPaths.removeTemporaryDirectory(state) }

        func fetch(_ accountKey: String) async throws -> ModelFetcher.Result {
            var model = ModelConfig(source: "azblob://slipwaytest/models/resnet/*.onnx", dest: "m")
            model.azure = ModelConfig.Azure(accountKey: .environment("AZ"), endpoint: server.baseURL + "/slipwaytest")
            let location = try #require(ModelLocation(model.source))
            let store = try ModelFetcher.store(for: model, location: location) { _ in accountKey }
            let fetcher = ModelFetcher(cache: ModelCache(stateDirectory: state.path))
            return try await fetcher.fetch(location, object: try await fetcher.resolve(location, store: store), store: store)
        }

        let result = try await fetch(key)
        #expect(result.provenance.source == "azblob://slipwaytest/models/resnet/v2.onnx")
        #expect(result.provenance.sha256 == Crypto.sha256(bytes).hexString)
        let storeRequests = server.requests.filter { $0.contains("/slipwaytest/models") }
        #expect(
            storeRequests.count == 2 && storeRequests.allSatisfy { $0.contains("status=200") },
            "list and get, both signed right: \(server.requests)")
        let wrong = Data((0..<64).map { UInt8($0) }).base64EncodedString()
        await #expect { _ = try await fetch(wrong) } throws: { error in
            (error as? ModelError)?.kind == .denied && "\(error)".contains("AuthenticationFailed") && !"\(error)".contains(wrong)
        }
    }
}

@Suite struct AzureSASTests {
    @Test func aSASTokenTravelsInTheQueryAndNothingIsSigned() throws {
        var settings = ModelConfig.Azure()
        settings.sasToken = .environment("SAS")
        settings.endpoint = "http://127.0.0.1:10000/devstoreaccount1"
        let sas = "?sv=2021-08-06&ss=b&srt=co&sp=rl&se=2030-01-01T00:00:00Z&sig=abc%2Fdef%3D"
        let store = try AzureBlobStore(
            account: "devstoreaccount1", container: "models", settings: settings, secret: { _ in sas },
            source: "azblob://devstoreaccount1/models/resnet.onnx")
        let request = try store.getRequest(name: "team a/resnet.onnx", range: 1024, ifNoneMatch: nil, ifMatch: "\"0x1\"")
        #expect(request.url == "http://127.0.0.1:10000/devstoreaccount1/models/team%20a/resnet.onnx?" + sas.dropFirst())
        #expect(request.headers["Authorization"].isEmpty)
        #expect(request.headers["x-ms-range"] == ["bytes=1024-"])
        #expect(request.headers["If-Match"] == ["\"0x1\""])
        #expect(request.headers["x-ms-version"].count == 1)
    }
}
