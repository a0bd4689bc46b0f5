import CSystemCalls
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A program a test started (posix_spawn), and what became of it. Tests use this, not
/// Foundation's `Process`: Foundation learns that a child ended when a socket the child
/// inherited closes, and every child it starts in the same instant inherits that socket
/// too; a long-lived one (a PostgreSQL server kept for the whole run) then hid a `psql`'s
/// end for good, and `terminationStatus`, read after the wait gave up, trapped (seen in
/// CI). Here a child gets its three standard streams and no other descriptor, default
/// signal handling and an empty signal mask (the test process blocks SIGTERM, which a
/// child would otherwise inherit), and a process group of its own; the test reaps it by
/// its pid.
public final class ChildProcess: @unchecked Sendable {   // `ending` under `lock`
    /// How a child ended.
    public enum Ending: Equatable, Sendable {
        case exited(Int32)
        case signalled(Int32)
        /// Reaped by something else: the status is unknown.
        case lost
    }

    public let processIdentifier: pid_t
    public let program: String
    private let lock = NSLock()
    private var ending: Ending?

    /// Starts `program` (a path) with `arguments`. `environment`: the whole environment
    /// (nil: this process's); `directory`: where it starts; a nil stream is /dev/null.
    public init(
        _ program: String, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil,
        standardInput: Int32? = nil, standardOutput: Int32? = nil, standardError: Int32? = nil
    ) throws {
        self.program = program
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        guard null >= 0 else { throw HarnessError("cannot open /dev/null: \(String(cString: strerror(errno)))") }
        defer { close(null) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (source, target) in [(standardInput ?? null, 0), (standardOutput ?? null, 1), (standardError ?? null, 2)] {
            posix_spawn_file_actions_adddup2(&actions, source, Int32(target))
        }
        slipway_spawn_close_from(&actions, 3)
        if let directory { slipway_spawn_change_directory(&actions, directory.path) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = CStringArray([program] + arguments)
        let envp = CStringArray((environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" })
        var pid = pid_t()
        let failure = posix_spawn(&pid, program, &actions, &attributes, argv.pointers, envp.pointers)
        guard failure == 0 else { throw HarnessError("cannot start \(program): \(String(cString: strerror(failure)))") }
        processIdentifier = pid
    }

    /// How it ended; nil while it runs. Reaps it once it has ended.
    public var ended: Ending? {
        lock.withLock {
            if let ending { return ending }
            var status: Int32 = 0
            var reaped: pid_t
            repeat { reaped = waitpid(processIdentifier, &status, WNOHANG) } while reaped == -1 && errno == EINTR
            if reaped == processIdentifier {
                let signal = status & 0x7f
                ending = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
            } else if reaped == -1 {
                ending = .lost
            }
            return ending
        }
    }

    public var isRunning: Bool { ended == nil }

    /// The exit code, or the number of the signal that ended it (as Foundation's
    /// `terminationStatus`); -1 while it runs or when lost.
    public var status: Int32 {
        switch ended {
        case .exited(let code): code
        case .signalled(let signal): signal
        case .lost, nil: -1
        }
    }

    /// Waits up to `timeout` for it to end; how it ended, or nil if it still runs.
    @discardableResult
    public func wait(timeout: TimeInterval = 600) -> Ending? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let ended { return ended }
            if Date() >= deadline { return nil }
            usleep(5_000)
        }
    }

    /// Sends `signal`, unless it has already ended (its pid may belong to another process
    /// by then).
    public func send(_ signal: Int32) {
        lock.withLock { if ending == nil { kill(processIdentifier, signal) } }
    }

    /// `signal` (SIGTERM unless said), up to `grace` to end, then SIGKILL; waits for it.
    public func stop(with signal: Int32 = SIGTERM, grace: TimeInterval = 5) {
        send(signal)
        guard wait(timeout: grace) == nil else { return }
        send(SIGKILL)
        wait(timeout: 10)
    }
}

/// A pipe, both ends closed on exec: hand one end to a `ChildProcess` and close it here.
public func closeOnExecPipe() throws -> (reading: Int32, writing: Int32) {
    var ends: [Int32] = [0, 0]
    guard slipway_pipe_close_on_exec(&ends) == 0 else { throw HarnessError("pipe: \(String(cString: strerror(errno)))") }
    return (ends[0], ends[1])
}

/// NUL-terminated C strings and the NULL-terminated array of them that exec wants.
private final class CStringArray {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointers = .allocate(capacity: count + 1)
        for (index, string) in strings.enumerated() { pointers[index] = strdup(string) }
        pointers[count] = nil
    }

    deinit {
        for index in 0..<count { free(pointers[index]) }
        pointers.deallocate()
    }
}
