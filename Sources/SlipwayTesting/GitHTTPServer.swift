import AsyncHTTPClient
import Foundation

/// `git http-backend` (smart HTTP) behind a small Python server (Tests/Fakes/git_http_server.py)
/// that demands HTTP Basic auth, for testing clones of private repositories with a token.
/// It plays the part of GitHub's HTTPS git endpoint; it is not GitHub. Records every
/// Authorization header.
public final class GitHTTPServer: @unchecked Sendable {
    public let directory: URL
    public let port: Int
    public let username: String
    public let token: String
    private var process: ChildProcess?

    /// Serves the bare repositories found in `root` (their directory names are the paths).
    public init(root: URL, username: String = "x-access-token", token: String = "ghs_" + UUID().uuidString) throws {
        directory = try TestPaths.temporaryDirectory("git-http")
        port = freeLoopbackPort()
        self.username = username
        self.token = token
        process = try ChildProcess(
            "/usr/bin/env",
            [
                "python3", TestPaths.fake("git_http_server.py").path, root.path, String(port),
                Data("\(username):\(token)".utf8).base64EncodedString(), requestLog.path,
            ], standardOutput: STDOUT_FILENO, standardError: STDERR_FILENO)
    }

    public var requestLog: URL { directory.appendingPathComponent("requests.log") }

    /// From now on each request is logged, then held until `release()` (at most 120 s).
    public func hold() throws { try Data().write(to: URL(fileURLWithPath: requestLog.path + ".hold")) }
    public func release() { try? FileManager.default.removeItem(atPath: requestLog.path + ".hold") }

    /// "Basic /path" or "none /path" per request.
    public var requests: [String] {
        ((try? String(contentsOf: requestLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    public func waitUntilListening() async throws {
        let deadline = ContinuousClock.now + TestPaths.serverStartLimit
        while ContinuousClock.now < deadline {
            let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/")
            if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)), response.status.code == 401 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("the git HTTP server did not start")
    }

    public func stop() {
        process?.stop()
        process = nil
        TestPaths.removeTemporaryDirectory(directory)
    }
}
