import AsyncHTTPClient
import Foundation

/// `git http-backend` (smart HTTP) behind a small Python server that demands HTTP Basic
/// auth, for testing clones of private repositories with a token. It plays the part of
/// GitHub's HTTPS git endpoint; it is not GitHub. Records every Authorization header.
public final class GitHTTPServer: @unchecked Sendable {
    public let directory: URL
    public let port: Int
    public let username: String
    public let token: String
    private var process: Process?

    static let script = #"""
import base64, os, subprocess, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, PORT, EXPECTED, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

class Handler(BaseHTTPRequestHandler):
    def handle_git(self):
        auth = self.headers.get("Authorization", "")
        with open(LOG, "a") as log:
            log.write(("none" if not auth else auth.split(" ")[0]) + " " + self.path + "\n")
        if auth != "Basic " + EXPECTED:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = dict(os.environ, GIT_PROJECT_ROOT=ROOT, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
                   QUERY_STRING=query, REQUEST_METHOD=self.command, REMOTE_USER="test",
                   CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(len(body)),
                   GIT_PROTOCOL=self.headers.get("Git-Protocol", ""))
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.split(b"\r\n"):
            name, _, value = line.decode().partition(":")
            if name.lower() == "status":
                status = int(value.strip().split(" ")[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = handle_git
    do_POST = handle_git

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
"""#

    /// Serves the bare repositories found in `root` (their directory names are the paths).
    public init(root: URL, username: String = "x-access-token", token: String = "ghs_" + UUID().uuidString) throws {
        directory = try TestPaths.temporaryDirectory("git-http")
        port = freeLoopbackPort()
        self.username = username
        self.token = token
        try Self.script.write(to: directory.appendingPathComponent("server.py"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", directory.appendingPathComponent("server.py").path, root.path, String(port),
                             Data("\(username):\(token)".utf8).base64EncodedString(), requestLog.path]
        try process.run()
        self.process = process
    }

    public var requestLog: URL { directory.appendingPathComponent("requests.log") }

    /// "Basic /path" or "none /path" per request.
    public var requests: [String] {
        ((try? String(contentsOf: requestLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    public func waitUntilListening() async throws {
        let deadline = ContinuousClock.now + .seconds(30)   // Python starts slowly on a loaded machine
        while ContinuousClock.now < deadline {
            let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/")
            if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)), response.status.code == 401 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("the git HTTP server did not start")
    }

    public func stop() {
        if let process { stopProcess(process) }
        process = nil
        try? FileManager.default.removeItem(at: directory)
    }
}
