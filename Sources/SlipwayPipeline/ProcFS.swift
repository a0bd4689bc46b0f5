import Foundation

/// What Slipway reads from Linux's /proc about other processes: their ids, state,
/// session, and environment (build processes are recognised by variables they carry).
enum ProcFS {
    struct Stat {
        /// R, S, D, Z, X, ...
        let state: Character
        let session: pid_t
    }

    static func pids() -> [pid_t] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }.filter { $0 > 1 }
    }

    /// Fields after "(comm)": state ppid pgrp session ...
    static func stat(_ pid: pid_t) -> Stat? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 3, let state = fields[0].first, let session = pid_t(fields[3]) else { return nil }
        return Stat(state: state, session: session)
    }

    /// True while `pid` exists and is not a zombie.
    static func isAlive(_ pid: pid_t) -> Bool {
        guard let state = stat(pid)?.state else { return false }
        return state != "Z" && state != "X"
    }

    /// The command name of `pid` (`/proc/PID/comm`, at most 15 bytes).
    static func command(of pid: pid_t) -> String? {
        (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines)
    }

    /// The environment of `pid` as `NAME=value` entries; nil when it cannot be read.
    static func environment(of pid: pid_t) -> Set<String>? {
        guard let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        return Set(environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
    }
}
