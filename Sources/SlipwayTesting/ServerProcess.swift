import Foundation

/// A server program a test starts and stops (a fake API, a registry), with its files in
/// a temporary directory of its own that `remove()` deletes.
public final class ServerProcess: @unchecked Sendable {
    public let directory: URL
    private let lock = NSLock()
    private var process: ChildProcess?

    public init(label: String) throws {
        directory = try TestPaths.temporaryDirectory(label)
    }

    public var logFile: URL { directory.appendingPathComponent("server.log") }
    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }
    public var isRunning: Bool { lock.withLock { process?.isRunning ?? false } }

    /// Starts `program ARGUMENTS` unless it runs already; its output goes to `logFile`.
    public func start(_ program: String, _ arguments: [String]) throws {
        try lock.withLock {
            guard process == nil else { return }
            process = try launchServer(program, arguments, log: logFile)
        }
    }

    public func stop() {
        let running = lock.withLock { () -> ChildProcess? in
            defer { process = nil }
            return process
        }
        running?.stop()
    }

    public func remove() {
        stop()
        TestPaths.removeTemporaryDirectory(directory)
    }
}
