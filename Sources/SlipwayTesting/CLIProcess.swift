import Foundation

/// The real `slipway` binary, run as a user would: its own stdout and stderr (files, so a
/// long output cannot fill a pipe), exit status, environment of the test's choosing.
public struct CLIProcess: Sendable {
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    public let environment: [String: String]
    let directory: URL

    /// `environment` replaces the process's own (plus PATH), so no SLIPWAY_* of the
    /// machine leaks into a test.
    public init(environment: [String: String]) throws {
        var environment = environment
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"]
        self.environment = environment
        directory = try TestPaths.temporaryDirectory("cli")
    }

    /// Runs `slipway ARGS` to its end.
    public func run(_ arguments: [String]) async throws -> Result {
        let running = try start(arguments)
        return await blocking { running.wait() }
    }

    /// Starts `slipway ARGS`; read its output so far with `stdoutSoFar()`.
    public func start(_ arguments: [String]) throws -> Running {
        let id = UUID().uuidString
        let out = directory.appendingPathComponent("\(id).out"), err = directory.appendingPathComponent("\(id).err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = try TestPaths.executable("slipway")
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        return Running(process: process, out: out, err: err)
    }

    public final class Running: @unchecked Sendable {
        let process: Process
        let out: URL, err: URL

        init(process: Process, out: URL, err: URL) {
            self.process = process
            self.out = out
            self.err = err
        }

        public func stdoutSoFar() -> String { (try? String(contentsOf: out, encoding: .utf8)) ?? "" }
        public var isRunning: Bool { process.isRunning }

        public func wait(timeout: TimeInterval = 120) -> Result {
            waitForExit(process, timeout: timeout)
            if process.isRunning { stopProcess(process) }
            return Result(
                status: process.isRunning ? -1 : process.terminationStatus, stdout: stdoutSoFar(),
                stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
        }
    }

    public func removeFiles() { TestPaths.removeTemporaryDirectory(directory) }
}
