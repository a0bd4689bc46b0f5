/// What systemd (or another service manager speaking its protocol) tells slipwayd through
/// the environment, and what slipwayd tells it back. Pure: the environment and the pid
/// are given; the adapters read them and send the datagrams.
public enum ServiceManager {
    /// Socket activation (sd_listen_fds(3)): the listening socket passed as file descriptor 3.
    public enum PassedSocket: Equatable, Sendable {
        /// Nothing was passed to this process: slipwayd binds `server.listen` itself.
        case none
        case descriptor(Int32)
        /// Passed, but not usable as slipwayd's one listener; the text says why and what to do.
        case unusable(String)
    }

    public static let firstPassedDescriptor: Int32 = 3

    /// `LISTEN_FDS` sockets from fd 3 on, meant for `pid` when `LISTEN_PID` names it (a
    /// variable inherited from a parent that was itself activated names another pid, and is
    /// ignored, as sd_listen_fds does).
    public static func passedSocket(environment: [String: String], pid: Int32) -> PassedSocket {
        guard let count = environment["LISTEN_FDS"], !count.isEmpty else { return .none }
        guard let owner = environment["LISTEN_PID"].flatMap({ Int32($0) }), owner == pid else { return .none }
        guard let sockets = Int(count), sockets >= 0 else {
            return .unusable("LISTEN_FDS=\(count.prefix(20)) is not a number of sockets")
        }
        switch sockets {
        case 0: return .none
        case 1: return .descriptor(firstPassedDescriptor)
        default:
            return .unusable(
                "the service manager passed \(sockets) sockets (LISTEN_FDS); slipwayd serves one: give slipwayd.socket one ListenStream=")
        }
    }

    /// The variables a child process must not inherit: they describe this process's sockets
    /// and notification channel, and a build must not speak to the service manager for us.
    public static let variablesToRemove = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC` (sd_watchdog_enabled(3)), when
    /// the watchdog is on for this process; nil when it is off or the value is not a positive
    /// number of microseconds.
    public static func watchdogInterval(environment: [String: String], pid: Int32) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let microseconds = UInt64(text), microseconds > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], !owner.isEmpty, Int32(owner) != pid { return nil }
        return .microseconds(Int64(clamping: microseconds / 2))
    }

    /// sd_notify(3) messages slipwayd sends.
    public enum Notice: Equatable, Sendable {
        /// The listener accepts and `/readyz` would answer 200.
        case ready(status: String)
        /// SIGHUP received: the config is being read again. `monotonicMicroseconds`: the
        /// CLOCK_MONOTONIC time, which systemd 253+ requires with RELOADING=1.
        case reloading(monotonicMicroseconds: UInt64)
        case stopping
        case watchdog

        /// The datagram's text: newline-separated `KEY=VALUE` lines.
        public var datagram: String {
            switch self {
            case .ready(let status): "READY=1\nSTATUS=\(Self.oneLine(status))"
            case .reloading(let microseconds): "RELOADING=1\nMONOTONIC_USEC=\(microseconds)\nSTATUS=reloading the config"
            case .stopping: "STOPPING=1\nSTATUS=stopping: finishing running builds"
            case .watchdog: "WATCHDOG=1"
            }
        }

        /// A status on one line: a line break would start another assignment.
        static func oneLine(_ text: String) -> String {
            String(text.map { $0.isNewline ? " " : $0 }.prefix(200))
        }
    }
}
