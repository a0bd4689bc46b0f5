import Foundation

/// A real git repository for a test: a bare repository (what Slipway clones, over
/// file://) and a work tree to commit from.
public final class GitFixture: @unchecked Sendable {
    public let directory: URL
    public var bareURL: String { "file://" + directory.appendingPathComponent("origin.git").path }
    var workTree: URL { directory.appendingPathComponent("work") }
    /// The newest commit made through `commit`.
    public private(set) var head = ""

    /// A repository whose `main` holds `files` (path → content; paths ending in .sh are
    /// executable). `objectFormat`: `sha1` (git's default) or `sha256`.
    public init(label: String, files: [String: String], objectFormat: String = "sha1") throws {
        directory = try TestPaths.temporaryDirectory("git-\(label)")
        do {
            let format = "--object-format=\(objectFormat)"
            try Self.git(
                ["init", "--quiet", "--bare", format, "--initial-branch=main", directory.appendingPathComponent("origin.git").path],
                in: directory)
            try Self.git(["init", "--quiet", format, "--initial-branch=main", workTree.path], in: directory)
            _ = try commit(files: files, message: "Initial commit")
        } catch {
            remove()   // the caller gets no fixture to remove
            throw error
        }
    }

    /// Commits `files` on `branch` and pushes it; returns the commit id. `executables`
    /// are copied in as they are, with their mode (programs built by the test);
    /// `symlinks` are symbolic links (path in the repository: target), as git stores them.
    @discardableResult
    public func commit(
        files: [String: String], executables: [String: URL] = [:], symlinks: [String: String] = [:],
        message: String, branch: String = "main"
    ) throws -> String {
        try Self.git(["checkout", "--quiet", "-B", branch], in: workTree)
        for (path, content) in files {
            let url = workTree.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try content.write(to: url, atomically: true, encoding: .utf8)
            if path.hasSuffix(".sh") { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path) }
        }
        for (path, source) in executables {
            let url = workTree.appendingPathComponent(path)
            try? FileManager.default.removeItem(at: url)
            try FileManager.default.copyItem(at: source, to: url)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        }
        for (path, target) in symlinks {
            let url = workTree.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? FileManager.default.removeItem(at: url)
            try FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: target)
        }
        try Self.git(["add", "--all"], in: workTree)
        try Self.git(["commit", "--quiet", "--allow-empty", "-m", message], in: workTree)
        try Self.git(["push", "--quiet", "--force", bareURL, "HEAD:refs/heads/\(branch)"], in: workTree)
        head = try Self.git(["rev-parse", "HEAD"], in: workTree).trimmingCharacters(in: .whitespacesAndNewlines)
        return head
    }

    public func remove() { TestPaths.removeTemporaryDirectory(directory) }

    @discardableResult
    static func git(_ arguments: [String], in directory: URL) throws -> String {
        let result = try runProgram(
            "/usr/bin/git", arguments,
            environment: [
                "PATH": "/usr/bin:/bin", "HOME": directory.path, "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_AUTHOR_NAME": "Slipway Test", "GIT_AUTHOR_EMAIL": "test@slipway.invalid",
                "GIT_COMMITTER_NAME": "Slipway Test", "GIT_COMMITTER_EMAIL": "test@slipway.invalid",
            ], in: directory)
        guard result.status == 0 else { throw HarnessError("git \(arguments.joined(separator: " ")) failed: \(result.output)") }
        return result.output
    }
}

/// Runs a program to completion and returns its exit status and combined output (only
/// its standard output with `stdoutOnly`).
public func runProgram(
    _ path: String, _ arguments: [String], environment: [String: String]? = nil,
    in directory: URL? = nil, stdoutOnly: Bool = false
) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = environment }
    if let directory { process.currentDirectoryURL = directory }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = stdoutOnly ? FileHandle.nullDevice : output
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    waitForExit(process)
    return (process.terminationStatus, text)
}

/// Foundation's `waitUntilExit` can spin forever off the main thread on Linux; poll instead.
func waitForExit(_ process: Process, timeout: TimeInterval = 600) {
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning, Date() < deadline { usleep(5_000) }
}

/// SIGTERM, up to 5 s to exit, then SIGKILL.
func stopProcess(_ process: Process) {
    let pid = process.processIdentifier
    kill(pid, SIGTERM)
    let deadline = Date().addingTimeInterval(5)
    while isAlive(pid), Date() < deadline { usleep(5_000) }
    if isAlive(pid) { kill(pid, SIGKILL) }
}

/// True while process `pid` exists and has not exited. Reads /proc: a zombie has exited
/// even before Foundation (or init, for an orphan) has reaped it.
func isAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    return stat[stat.index(after: close)...].dropFirst().first != "Z"
}

/// Starts a long-running server program with its output in `log`; stop it with `stopProcess`.
func launchServer(_ path: String, _ arguments: [String], environment: [String: String]? = nil, log: URL) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = environment }
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    let handle = try FileHandle(forWritingTo: log)
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    return process
}
