import AsyncHTTPClient
import Foundation

/// A small HTTP file server (Tests/Fakes/blob_http_server.py) that stands in for a model
/// host: GET with Range, If-Range, If-None-Match (ETag = sha256 of the file), optional
/// bearer token, and a switch to drop the connection half-way through the first full
/// download. Logs one line per request: method, path, range header, status, body bytes sent.
public final class BlobHTTPServer: @unchecked Sendable {
    public let directory: URL
    public let root: URL
    public let port: Int
    private var process: ChildProcess?

    /// `azureAccount`: serve as Azure Blob Storage for that account and key (base64),
    /// checking every request's Shared Key with the Azure SDK.
    public init(bearerToken: String? = nil, dropFirstDownloadHalfway: Bool = false, azureAccount: (name: String, key: String)? = nil) throws
    {
        directory = try TestPaths.temporaryDirectory("blob-http")
        root = directory.appendingPathComponent("files")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        port = freeLoopbackPort()
        process = try ChildProcess(
            try PythonTools.python(),
            [
                TestPaths.fake("blob_http_server.py").path, root.path, String(port), bearerToken ?? "-",
                dropFirstDownloadHalfway ? "1" : "0", requestLog.path,
                azureAccount.map { "\($0.name):\($0.key)" } ?? "-",
            ], standardOutput: STDOUT_FILENO, standardError: STDERR_FILENO)
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var requestLog: URL { directory.appendingPathComponent("requests.log") }
    public var requests: [String] {
        ((try? String(contentsOf: requestLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Total body bytes the server sent.
    public var bytesSent: Int64 {
        requests.compactMap { line in line.components(separatedBy: "bytes=").last.flatMap { Int64($0) } }.reduce(0, +)
    }

    public func waitUntilListening() async throws {
        let deadline = ContinuousClock.now + TestPaths.serverStartLimit
        while ContinuousClock.now < deadline {
            let request = HTTPClientRequest(url: baseURL + "/")
            if (try? await HTTPClient.shared.execute(request, timeout: .seconds(2))) != nil { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("the blob HTTP server did not start")
    }

    public func stop() {
        process?.stop()
        process = nil
        TestPaths.removeTemporaryDirectory(directory)
    }
}
