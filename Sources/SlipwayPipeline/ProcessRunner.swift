import Foundation
import Subprocess
import SystemPackage
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs one child process for a build step: argv only (no shell unless the config's own
/// argv names one), its own session and process group, stdout and stderr streamed into
/// the build log, and a deadline.
///
/// On timeout or task cancellation the whole process group gets SIGTERM, then SIGKILL a
/// second later; when the direct child exits on its own, anything it left running in its
/// group is killed too, so no step leaves processes behind.
public struct ProcessRunner: Sendable {
    /// How long SIGTERM is given before SIGKILL.
    public var terminationGrace: Duration = .seconds(1)

    public init() {}

    public struct Result: Sendable, Equatable {
        public var exitCode: Int32?
        public var signal: Int32?
        public var timedOut: Bool
        /// Wall time from launch to exit.
        public var elapsed: Duration = .zero
        public var succeeded: Bool { exitCode == 0 && !timedOut }

        /// "exit 0 after 0.31s", for the build log.
        public var summary: String {
            let what = timedOut ? "timed out" : signal.map { "killed by signal \($0)" } ?? "exit \(exitCode ?? -1)"
            let ms = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
            return "\(what) after \(String(format: "%.3f", Double(ms) / 1000))s"
        }
    }

    public struct LaunchError: Error, CustomStringConvertible {
        public let executable: String
        public let reason: String
        public var description: String { "cannot start '\(executable)': \(reason)" }
    }

    /// Runs `argv` in `workingDirectory` with exactly `environment` (nothing of the
    /// daemon's own environment, which holds its secrets, is inherited).
    public func run(
        _ argv: [String], workingDirectory: String, environment: [String: String],
        timeout: Duration?, log: (any OutputSink)?
    ) async throws -> Result {
        guard let executable = argv.first, !executable.isEmpty else {
            throw LaunchError(executable: "", reason: "empty argv")
        }
        let grace = terminationGrace
        let launched = ContinuousClock.now
        let outcome: Outcome = try await withThrowingTaskGroup(of: Outcome.self) { group in
            group.addTask {
                var options = PlatformOptions()
                options.createSession = true
                options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: grace)]
                var env: [Environment.Key: String] = [:]
                for (key, value) in environment { env[Environment.Key(rawValue: key)!] = value }
                let resolved = executable.contains("/") ? Executable.path(FilePath(executable)) : Executable.name(executable)
                do {
                    let result = try await Subprocess.run(
                        resolved, arguments: Arguments(Array(argv.dropFirst())), environment: .custom(env),
                        workingDirectory: FilePath(workingDirectory), platformOptions: options,
                        input: .none, output: .sequence, error: .combinedWithOutput
                    ) { execution in
                        let pid = execution.processIdentifier.value
                        do {
                            try await withTaskCancellationHandler {
                                try await Self.streamOutput(execution.standardOutput, of: pid, to: log)
                            } onCancel: {
                                Self.terminateGroup(pid, grace: grace)
                            }
                        } catch {
                            // Cancelled: the group got SIGTERM; give it its grace to exit.
                            if Task.isCancelled { await Self.waitForExit(pid, upTo: grace) }
                            Self.killGroup(pid)
                            throw error
                        }
                        if Task.isCancelled { await Self.waitForExit(pid, upTo: grace) }
                        Self.killGroup(pid)
                    }
                    return .finished(result.terminationStatus)
                } catch let error as SubprocessError {
                    throw LaunchError(executable: executable, reason: "\(error)")
                }
            }
            if let timeout {
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return .timedOut
                }
            }
            let first = try await group.next()!
            group.cancelAll()
            // Wait for the child's teardown to finish, so nothing outlives the step.
            while let _ = try? await group.next() {}
            return first
        }
        log?.flushPending()
        let elapsed = ContinuousClock.now - launched
        switch outcome {
        case .timedOut: return Result(exitCode: nil, signal: SIGKILL, timedOut: true, elapsed: elapsed)
        case .finished(.exited(let code)): return Result(exitCode: code, signal: nil, timedOut: false, elapsed: elapsed)
        case .finished(.signaled(let signal)): return Result(exitCode: nil, signal: signal, timedOut: false, elapsed: elapsed)
        }
    }

    /// Copies output to the log until the pipe closes. A background process the step
    /// started may hold the pipe open after the step itself has exited: once the direct
    /// child is gone, its group gets a second to finish writing and is then killed.
    private static func streamOutput(_ output: SubprocessOutputSequence, of pid: pid_t, to log: (any OutputSink)?) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                for try await chunk in output {
                    chunk.withUnsafeBytes { log?.output(UnsafeRawBufferPointer($0)) }
                }
                return true
            }
            group.addTask {
                // Cancelled (not thrown) once the reader is done.
                while isRunning(pid), !Task.isCancelled { try? await Task.sleep(for: .milliseconds(100)) }
                try? await Task.sleep(for: .seconds(1))
                if !Task.isCancelled { killGroup(pid) }
                return false
            }
            while let readerDone = try await group.next() {
                if readerDone { group.cancelAll() }
            }
        }
    }

    /// True while `pid` exists and is not a zombie (Linux /proc).
    static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].dropFirst().first
        return state != "Z" && state != "X"
    }

    private enum Outcome: Sendable {
        case finished(TerminationStatus)
        case timedOut
    }

    /// Waits, whatever the task's cancellation, until `pid` has exited or `limit` passed.
    static func waitForExit(_ pid: pid_t, upTo limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while isRunning(pid), ContinuousClock.now < deadline {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) { continuation.resume() }
            }
        }
    }

    /// Timeout or cancellation: SIGTERM to the step's process group now, SIGKILL after
    /// `grace`. The killed group closes the output pipe, which ends the step.
    static func terminateGroup(_ pid: pid_t, grace: Duration) {
        guard pid > 1 else { return }
        _ = kill(-pid, SIGTERM)
        let nanoseconds = grace.components.seconds * 1_000_000_000 + grace.components.attoseconds / 1_000_000_000
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) { killGroup(pid) }
    }

    /// SIGKILL to the step's process group (the child leads its own session, so its pid
    /// is the group id). ESRCH, nothing left, is the common case.
    static func killGroup(_ pid: pid_t) {
        guard pid > 1 else { return }
        _ = kill(-pid, SIGKILL)
    }
}

/// Where a child's output goes: the build log, or a capture that also forwards to it.
public protocol OutputSink: Sendable {
    func output(_ bytes: some Sequence<UInt8>)
    func flushPending()
}

/// Keeps the last `limit` bytes of a tool's output (to read a digest from it) and passes
/// everything on to the build log.
public final class CapturedOutput: OutputSink {
    private let forward: (any OutputSink)?
    private let limit: Int
    private let buffer = Mutex<[UInt8]>([])

    public init(forwardingTo forward: (any OutputSink)?, limit: Int = 64 * 1024) {
        self.forward = forward
        self.limit = limit
    }

    public func output(_ bytes: some Sequence<UInt8>) {
        buffer.withLock { buffer in
            buffer.append(contentsOf: bytes)
            if buffer.count > limit { buffer.removeFirst(buffer.count - limit) }
        }
        forward?.output(bytes)
    }

    public func flushPending() { forward?.flushPending() }

    public var text: String { buffer.withLock { String(decoding: $0, as: UTF8.self) } }
}
