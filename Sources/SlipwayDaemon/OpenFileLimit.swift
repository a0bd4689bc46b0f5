import Foundation

/// The daemon's open-file limit. systemd and most shells start a process with a soft
/// limit of 1,024 (the hard limit is far higher): it is raised to the hard limit, as Go
/// and nginx do, and what remains after a reserve for builds, the database and logs
/// bounds the connections the server keeps open.
enum OpenFileLimit {
    /// Descriptors kept for everything but HTTP connections.
    static let reserve = 256

    /// Raises the soft limit to the hard one; returns the soft limit now in force.
    static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)   // RLIM_INFINITY is the largest value: Int.max
    }

    /// The connection cap that fits in `openFiles`.
    static func connectionCap(configured: Int, openFiles: Int) -> Int {
        min(configured, max(16, openFiles - reserve))
    }
}
