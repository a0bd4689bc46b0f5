import Foundation

/// The daemon's open-file limit. systemd and most shells start a process with a soft
/// limit of 1,024 (the hard limit is far higher): it is raised to the hard limit, as Go
/// and nginx do, and what remains after a reserve for builds, the database and logs
/// bounds the connections the server keeps open. The hard limit also bounds what a
/// sandboxed step can be given.
public enum OpenFileLimit {
    /// Descriptors kept for everything but HTTP connections.
    public static let reserve = 256

    /// Raises the soft limit to the hard one; returns the soft limit now in force.
    public static func raise() -> Int {
        guard var limit = current() else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)   // RLIM_INFINITY is the largest value: Int.max
    }

    /// The hard limit: no process of the daemon's can be given more.
    public static var hard: Int { current().map { Int(clamping: $0.rlim_max) } ?? Int.max }

    /// The connection cap that fits in `openFiles`.
    public static func connectionCap(configured: Int, openFiles: Int) -> Int {
        min(configured, max(16, openFiles - reserve))
    }

    private static func current() -> rlimit? {
        var limit = rlimit()
        return getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? limit : nil
    }
}
