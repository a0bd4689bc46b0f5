import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SlipwayCore

/// Runs the real `slipwayd` executable for a test: its own temporary state directory,
/// its own loopback port, real HTTP. Stop it with `stop()`, `kill()` or `shutdown()`.
public final class DaemonHarness: @unchecked Sendable {
    public let directory: URL
    public private(set) var port: Int
    public let configPath: String
    public let environment: [String: String]
    private var process: ChildProcess?
    public private(set) var stderrPath: String
    private let makeConfig: (Int, String) -> String
    /// When set, the daemon runs as this uid and gid (through setpriv), not as the test's
    /// user; its directory is given to it at start.
    public var runAs: (uid: UInt32, gid: UInt32)?
    /// When set, the daemon starts with this open-file limit, soft and hard (prlimit), as
    /// a unit without LimitNOFILE= would give it.
    public var openFileLimit: Int?

    /// The address the daemon is reached at (its config's `server.listen` host).
    public var host = "127.0.0.1"
    /// Programs the daemon is started through (`ip netns exec NAME`), before any other.
    public var launcher: [String] = []

    public var baseURL: String { "http://\(host):\(port)" }
    public var stateDirectory: String { directory.appendingPathComponent("state").path }
    public var databasePath: String { stateDirectory + "/slipway.sqlite" }

    /// `config` receives the port and the state directory and returns the YAML.
    public init(label: String, environment: [String: String] = [:], config: @escaping (_ port: Int, _ stateDirectory: String) -> String)
        throws
    {
        directory = try TestPaths.temporaryDirectory(label)
        port = freeLoopbackPort()
        configPath = directory.appendingPathComponent("slipway.yaml").path
        stderrPath = directory.appendingPathComponent("slipwayd.log").path
        self.environment = environment
        makeConfig = config
        try writeConfig(config(port, directory.appendingPathComponent("state").path))
    }

    public func writeConfig(_ yaml: String) throws {
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Starts the daemon and waits until /readyz answers 200. The wait is long: /readyz
    /// syncs a write, and a machine busy writing elsewhere (a build beside the tests) can
    /// hold an fdatasync for seconds (seen: over 20 s).
    public func start(timeout: Duration = .seconds(60), retriesLeft: Int = 2) async throws {
        let daemon = try TestPaths.executable("slipwayd").path
        var command: [String]
        if let runAs {
            _ = try runProgram("/bin/chown", ["-R", "\(runAs.uid):\(runAs.gid)", directory.path])
            command = ["/usr/bin/setpriv", "--reuid=\(runAs.uid)", "--regid=\(runAs.gid)", "--clear-groups", "--", daemon]
        } else if let openFileLimit {
            command = ["/usr/bin/prlimit", "--nofile=\(openFileLimit):\(openFileLimit)", "--", daemon]
        } else {
            command = [daemon]
        }
        command = launcher + command
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        for (key, value) in environment { env[key] = value }
        if !FileManager.default.fileExists(atPath: stderrPath) { _ = FileManager.default.createFile(atPath: stderrPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        defer { try? log.close() }
        let logStart = try log.seekToEnd()
        let process = try ChildProcess(
            command[0], Array(command.dropFirst()) + ["--config", configPath], environment: env, directory: directory,
            standardOutput: log.fileDescriptor, standardError: log.fileDescriptor)
        self.process = process
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                // Another test may have taken the free port first: take a new one, once or twice.
                let log = daemonLog()
                if log.contains("in use"), retriesLeft > 0 {
                    self.process = nil
                    port = freeLoopbackPort()
                    try writeConfig(makeConfig(port, stateDirectory))
                    return try await start(timeout: timeout, retriesLeft: retriesLeft - 1)
                }
                throw HarnessError("slipwayd exited with \(process.status) during start-up:\n\(log)")
            }
            // Ready means *this* process bound the port (its own "listening" line) and
            // answers: a daemon of another test that took the same port also answers /readyz.
            if daemonLog(from: logStart).contains("[SlipwayDaemon] listening"),
                let response = try? await get("/readyz"), response.status == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("slipwayd was not ready within \(timeout):\n\(daemonLog())")
    }

    /// Sends `signal` (0: none, only wait) and waits for the process to exit; returns its
    /// exit status.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(30)) async throws -> Int32 {
        guard let process else { return 0 }
        if signal != 0 { process.send(signal) }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                process.send(SIGKILL)
                throw HarnessError("slipwayd did not exit within \(timeout) of signal \(signal)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        self.process = nil
        return process.status
    }

    public func signal(_ signal: Int32) {
        process?.send(signal)
    }

    public var isRunning: Bool { process?.isRunning ?? false }

    /// The running daemon's pid.
    public var processID: Int32? { process.map(\.processIdentifier) }

    /// Stops the daemon if it runs, kills what its builds left running in its directory
    /// (steps and clean-ups run in sessions of their own and outlive a SIGKILL), then
    /// removes the temporary directory. Print `daemonLog()` before, not after.
    public func shutdown() async {
        if process != nil { _ = try? await stop(signal: SIGKILL) }
        let directory = self.directory
        _ = await blocking { LeftoverProcesses.killAll(workingIn: directory) }
        TestPaths.removeTemporaryDirectory(directory)
    }

    public func daemonLog() -> String {
        (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
    }

    /// The daemon's log from byte `offset` on (what one start of it wrote).
    func daemonLog(from offset: UInt64) -> String {
        guard let handle = FileHandle(forReadingAtPath: stderrPath) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }

    // MARK: HTTP

    public struct Reply: Sendable {
        public let status: Int
        public let headers: [(String, String)]
        public let body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        }
    }

    public func get(_ path: String, headers: [(String, String)] = []) async throws -> Reply {
        try await request("GET", path, headers: headers, body: nil)
    }

    /// Redirects are answers to check, not to follow.
    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(redirectConfiguration: .disallow))

    public func request(_ method: String, _ path: String, headers: [(String, String)], body: [UInt8]?) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await Self.client.execute(request, timeout: .seconds(30))
        let collected = try await response.body.collect(upTo: 64 * 1024 * 1024)
        return Reply(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: Array(buffer: collected))
    }

    /// A delivery as GitHub sends it: JSON body, event and delivery headers, and the
    /// sha256 signature made with `secret` (nil: no signature header).
    public func deliver(
        event: String, payload: [UInt8], secret: String?, deliveryID: String = UUID().uuidString,
        extraHeaders: [(String, String)] = []
    ) async throws -> Reply {
        var headers = [("Content-Type", "application/json"), ("X-GitHub-Event", event), ("X-GitHub-Delivery", deliveryID)]
        if let secret {
            headers.append(("X-Hub-Signature-256", WebhookSignature.sha256Header(body: payload, secret: Array(secret.utf8))))
        }
        headers += extraHeaders
        return try await request("POST", "/webhooks/github", headers: headers, body: payload)
    }
}

extension DaemonHarness {
    /// The status of `GET path` on 127.0.0.1:`port`, blocking (for a thread that is not a
    /// task's): one connection, closed after the answer; at most 10 s.
    public static func syncGet(port: Int, path: String) throws -> Int {
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        let answer = try BlockingHTTP.exchange(port: port, request: request, timeout: .seconds(10))
        guard answer.hasPrefix("HTTP/1.1 "), let status = Int(answer.dropFirst(9).prefix(3)) else {
            throw HarnessError("GET \(path): no HTTP answer")
        }
        return status
    }

    /// Starts the daemon, runs `body`, and shuts it down; on failure prints its log first.
    public func run<T>(_ body: (DaemonHarness) async throws -> T) async throws -> T {
        do {
            try await start()
            let result = try await body(self)
            await shutdown()
            return result
        } catch {
            print("--- slipwayd log (\(directory.lastPathComponent)) ---\n\(daemonLog())")
            await shutdown()
            throw error
        }
    }
}
