import AsyncHTTPClient
import Foundation

/// A local HTTP server (Tests/Fakes/fake_github_api.py) that plays the few GitHub REST
/// endpoints Slipway calls (commit statuses; a GitHub App's installation token). It is
/// NOT GitHub: it checks each request against GitHub's documented API — path, method,
/// headers, JSON fields and types, the 140-character description, and an App JWT verified
/// with the App's public key (iat, exp, iss) — and answers with scripted failures when
/// told to (500, 403 rate-limited with Retry-After, 422). Every request is recorded.
public final class FakeGitHubAPI: @unchecked Sendable {
    let server: ServerProcess
    public var directory: URL { server.directory }
    public let port: Int
    public let token: String
    private let arguments: [String]

    public struct Recorded: Sendable {
        public let method: String
        public let path: String
        public let status: Int
        public let body: [String: String]
        public let violations: [String]
        public let time: Double
    }

    /// With `app` (id, installation id, public key PEM path), statuses must carry an
    /// installation token this server issued; otherwise `token`.
    public init(
        token: String = "ghp_" + UUID().uuidString.replacingOccurrences(of: "-", with: ""),
        app: (id: Int, installation: Int, publicKeyPath: String)? = nil
    ) throws {
        server = try ServerProcess(label: "fake-github")
        let directory = server.directory
        port = freeLoopbackPort()
        self.token = token
        arguments = [
            TestPaths.fake("fake_github_api.py").path, String(port), directory.appendingPathComponent("requests.jsonl").path,
            directory.appendingPathComponent("script.txt").path,
            app == nil ? token : "-", app.map { String($0.id) } ?? "0", app.map { String($0.installation) } ?? "0",
            app?.publicKeyPath ?? "-",
        ]
    }

    /// Starts (or restarts, on the same port) the server and waits until it answers.
    public func start() async throws {
        try server.start(try PythonTools.python(), arguments)
        try await waitUntilListening()
    }

    public var apiURL: String { "http://127.0.0.1:\(port)" }
    var logFile: URL { directory.appendingPathComponent("requests.jsonl") }
    var scriptFile: URL { directory.appendingPathComponent("script.txt") }

    /// The next status requests get these answers, in order ("500", "ratelimit:SECONDS", "422").
    public func script(_ answers: [String]) throws {
        try answers.joined(separator: "\n").write(to: scriptFile, atomically: true, encoding: .utf8)
    }

    public var requests: [Recorded] {
        ((try? String(contentsOf: logFile, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return Recorded(
                method: object["method"] as? String ?? "", path: object["path"] as? String ?? "",
                status: object["status"] as? Int ?? 0, body: object["body"] as? [String: String] ?? [:],
                violations: object["violations"] as? [String] ?? [], time: object["time"] as? Double ?? 0)
        }
    }

    public var statusRequests: [Recorded] { requests.filter { $0.path.contains("/statuses/") } }

    public func waitUntilListening() async throws {
        let deadline = ContinuousClock.now + TestPaths.serverStartLimit
        while ContinuousClock.now < deadline {
            if (try? await HTTPClient.shared.execute(HTTPClientRequest(url: apiURL + "/"), timeout: .seconds(2))) != nil { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("the fake GitHub API did not start within \(TestPaths.serverStartLimit): \(server.log)")
    }

    public func stop() { server.stop() }
    public func remove() { server.remove() }
}
