import Foundation
import SlipwayCore
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Runs one child process for a build step: argv only (no shell unless the config's own
/// argv names one), its own session and process group, stdout and stderr streamed into
/// the build log, and a deadline.
///
/// On timeout or task cancellation every process of the step gets SIGTERM, then SIGKILL a
/// second later; when the direct child exits on its own, anything it left running in its
/// session is killed too, so no step leaves processes behind (see `ProcessTree`).
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

        /// "exit 0 after 0.3s", for the build log.
        public var summary: String {
            let what = timedOut ? "timed out" : signal.map { "killed by signal \($0)" } ?? "exit \(exitCode ?? -1)"
            return "\(what) after \(DurationText.elapsed(elapsed))"
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
        // Marks every process of this run, so killing them never hits a process that
        // merely got a recycled pid or process group id (pids wrap at 32768 by default).
        let token = UUID().uuidString
        let outcome: Outcome = try await withThrowingTaskGroup(of: Outcome.self) { group in
            group.addTask {
                var options = PlatformOptions()
                options.createSession = true
                var env: [Environment.Key: String] = [:]
                for (key, value) in environment { env[Environment.Key(rawValue: key)!] = value }
                env[Environment.Key(rawValue: ProcessTree.variable)!] = token
                let resolved = executable.contains("/") ? Executable.path(FilePath(executable)) : Executable.name(executable)
                // The child runs in a task of its own that is never cancelled: stopping it
                // is ours (SIGTERM to its processes, SIGKILL after the grace, on our own
                // timer queue), not Subprocess's, whose teardown waits on the shared pool.
                let control = RunControl()
                let child = Task {
                    do {
                        let result = try await Subprocess.run(
                            resolved, arguments: Arguments(Array(argv.dropFirst())), environment: .custom(env),
                            workingDirectory: FilePath(workingDirectory), platformOptions: options,
                            input: .none, output: .sequence, error: .combinedWithOutput
                        ) { execution in
                            let pid = execution.processIdentifier.value
                            if control.started(pid) { ProcessTree.terminate(session: pid, token: token, grace: grace) }
                            try await Self.streamOutput(execution.standardOutput, of: pid, token: token, to: log)
                            // The output ended, but the child may not have exited yet: a program
                            // can close its output in its exit handlers (coreutils do), just
                            // before it exits. It is let finish (up to the grace), and only then
                            // is whatever it left behind in its session killed; a SIGKILL in
                            // that window made a passing `sleep` end "killed by signal 9".
                            await Self.waitForExit(pid, upTo: grace)
                            ProcessTree.signal(SIGKILL, session: pid, token: token)
                        }
                        return result.terminationStatus
                    } catch let error as SubprocessError {
                        throw LaunchError(executable: executable, reason: "\(error)")
                    }
                }
                let status = try await withTaskCancellationHandler {
                    try await child.value
                } onCancel: {
                    if let pid = control.stop() { ProcessTree.terminate(session: pid, token: token, grace: grace) }
                }
                return .finished(status)
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
            while (try? await group.next()) != nil {}
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
    private static func streamOutput(_ output: SubprocessOutputSequence, of pid: pid_t, token: String, to log: (any OutputSink)?)
        async throws
    {
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
                if !Task.isCancelled { ProcessTree.signal(SIGKILL, session: pid, token: token) }
                return false
            }
            while let readerDone = try await group.next() {
                if readerDone { group.cancelAll() }
            }
        }
    }

    /// True while `pid` exists and is not a zombie (Linux /proc).
    static func isRunning(_ pid: pid_t) -> Bool { ProcFS.isAlive(pid) }

    private enum Outcome: Sendable {
        case finished(TerminationStatus)
        case timedOut
    }

    /// Waits, whatever the task's cancellation, until `pid` has exited or `limit` passed.
    /// Looks again after 1 ms, then twice as long each time up to 50 ms: a child that is
    /// already exiting is seen gone at once.
    static func waitForExit(_ pid: pid_t, upTo limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        var pause = 1
        while isRunning(pid), ContinuousClock.now < deadline {
            await withCheckedContinuation { continuation in
                ProcessTree.timers.asyncAfter(deadline: .now() + .milliseconds(pause)) { continuation.resume() }
            }
            pause = min(pause * 2, 50)
        }
    }

}

/// The processes one `ProcessRunner.run` started: those in the session its child leads
/// that carry its token in their environment. Signalled by scanning /proc, never by a
/// bare process group id that may have been recycled.
enum ProcessTree {
    static let variable = "SLIPWAY_PROCESS"
    /// Its own queue for kill timers, so a busy global queue never delays a SIGKILL.
    static let timers = DispatchQueue(label: "slipway.process-timers")

    static func signal(_ signal: Int32, session: pid_t, token: String) {
        guard session > 1 else { return }
        // The session is checked first: it is cheap, and only our own processes' environments are read.
        for pid in ProcFS.pids()
        where ProcFS.stat(pid)?.session == session
            && ProcFS.environment(of: pid)?.contains("\(variable)=\(token)") == true
        {
            // A sandbox (bwrap) is only killed: its code gets the SIGTERM and the grace,
            // and a bwrap that died of the SIGTERM would take its code down at once.
            if signal != SIGKILL, ProcFS.command(of: pid) == BubblewrapCommand.executable { continue }
            _ = kill(pid, signal)
        }
    }

    /// Timeout or cancellation: SIGTERM now, SIGKILL after `grace` to whatever is left.
    static func terminate(session: pid_t, token: String, grace: Duration) {
        signal(SIGTERM, session: session, token: token)
        timers.asyncAfter(deadline: .now() + .nanoseconds(Int(grace.nanoseconds))) {
            signal(SIGKILL, session: session, token: token)
        }
    }
}

extension ProcessRunner {
    /// Runs `argv` with its command line, then how it ended ("exit 0 after 0.31s"), written
    /// into `log`; its output goes to `output` (default: the log itself).
    public func runLogged(
        _ argv: [String], in directory: String, environment: [String: String], timeout: Duration?, log: BuildLog,
        output: (any OutputSink)? = nil, displayed: [String]? = nil
    ) async throws -> Result {
        log.line("$ " + (displayed ?? argv).map(CommandStep.quoteForDisplay).joined(separator: " "))
        let result = try await run(
            argv, workingDirectory: directory, environment: environment, timeout: timeout,
            log: output ?? log)
        log.line("  " + result.summary)
        return result
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

/// Whether a run was asked to stop, and the pid to stop once it is known.
final class RunControl: Sendable {
    private let state = Mutex<(pid: pid_t?, stopping: Bool)>((nil, false))

    /// Records the child's pid; true when a stop was asked for before it started.
    func started(_ pid: pid_t) -> Bool {
        state.withLock { state in
            state.pid = pid
            return state.stopping
        }
    }

    /// Marks the run as stopping; the pid, when the child has started.
    func stop() -> pid_t? {
        state.withLock { state in
            state.stopping = true
            return state.pid
        }
    }
}
