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
        let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
        defer {
            try? outHandle.close()
            try? errHandle.close()
        }
        let process = try ChildProcess(
            try TestPaths.executable("slipway").path, arguments, environment: environment,
            standardOutput: outHandle.fileDescriptor, standardError: errHandle.fileDescriptor)
        return Running(process: process, out: out, err: err)
    }

    public final class Running: @unchecked Sendable {
        let process: ChildProcess
        let out: URL, err: URL

        init(process: ChildProcess, out: URL, err: URL) {
            self.process = process
            self.out = out
            self.err = err
        }

        public func stdoutSoFar() -> String { (try? String(contentsOf: out, encoding: .utf8)) ?? "" }
        public var isRunning: Bool { process.isRunning }

        public func wait(timeout: TimeInterval = 120) -> Result {
            if process.wait(timeout: timeout) == nil { process.stop() }
            return Result(
                status: process.status, stdout: stdoutSoFar(),
                stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
        }
    }

    public func removeFiles() { TestPaths.removeTemporaryDirectory(directory) }
}
