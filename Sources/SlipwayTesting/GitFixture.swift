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

    /// Commits `files` on `branch` and pushes it (unless `push` is false: `push(branch:)`
    /// later); returns the commit id. `executables`
    /// are copied in as they are, with their mode (programs built by the test);
    /// `symlinks` are symbolic links (path in the repository: target), as git stores them.
    @discardableResult
    public func commit(
        files: [String: String], executables: [String: URL] = [:], symlinks: [String: String] = [:],
        message: String, branch: String = "main", push: Bool = true
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
        if push { try self.push(branch: branch) }
        head = try Self.git(["rev-parse", "HEAD"], in: workTree).trimmingCharacters(in: .whitespacesAndNewlines)
        return head
    }

    /// Pushes the work tree's HEAD to `branch` of the bare repository.
    public func push(branch: String = "main") throws {
        try Self.git(["push", "--quiet", "--force", bareURL, "HEAD:refs/heads/\(branch)"], in: workTree)
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
/// its standard output with `stdoutOnly`). A program whose output has not ended within
/// `timeout` is stopped, and its status is -1.
public func runProgram(
    _ path: String, _ arguments: [String], environment: [String: String]? = nil,
    in directory: URL? = nil, stdoutOnly: Bool = false, timeout: TimeInterval = 600
) throws -> (status: Int32, output: String) {
    let ends = try closeOnExecPipe()
    defer { close(ends.reading) }
    let process: ChildProcess
    do {
        defer { close(ends.writing) }
        process = try ChildProcess(
            path, arguments, environment: environment, directory: directory, standardOutput: ends.writing,
            standardError: stdoutOnly ? nil : ends.writing)
    }
    let deadline = Date().addingTimeInterval(timeout)
    let text = String(decoding: readToEnd(ends.reading, until: deadline), as: UTF8.self)
    guard process.wait(timeout: max(deadline.timeIntervalSinceNow, 0)) != nil else {
        process.stop()
        return (-1, text)
    }
    return (process.status, text)
}

/// What `descriptor` gives until its end, or until `deadline`.
private func readToEnd(_ descriptor: Int32, until deadline: Date) -> Data {
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while deadline.timeIntervalSinceNow > 0 {
        var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let waited = poll(&ready, 1, Int32(min(deadline.timeIntervalSinceNow, 1) * 1000) + 1)
        if waited == 0 || (waited < 0 && errno == EINTR) { continue }
        let count = read(descriptor, &buffer, buffer.count)
        if count < 0, errno == EINTR { continue }
        guard count > 0 else { break }
        data.append(contentsOf: buffer[..<count])
    }
    return data
}

/// True while process `pid` exists and has not exited. Reads /proc: a zombie has exited
/// even before its parent (or init, for an orphan) has reaped it.
func isAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    return stat[stat.index(after: close)...].dropFirst().first != "Z"
}

/// Starts a long-running server program with its output in `log`; stop it with `stop()`.
func launchServer(_ path: String, _ arguments: [String], environment: [String: String]? = nil, log: URL) throws -> ChildProcess {
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    let handle = try FileHandle(forWritingTo: log)
    defer { try? handle.close() }
    return try ChildProcess(
        path, arguments, environment: environment, standardOutput: handle.fileDescriptor, standardError: handle.fileDescriptor)
}
