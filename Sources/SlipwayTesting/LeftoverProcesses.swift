import Foundation

/// Processes still working in a test's directory once the test is done with it: the
/// steps and tools (`buildah rmi` of a finished build's clean-up) a SIGKILLed daemon
/// leaves behind, as they run in sessions of their own. Left alone they keep writing
/// into the directory while it is removed, and it comes back.
///
/// A process is found by its working directory: `/proc/PID/cwd` is read without waiting
/// on the process (its `environ` is not: reading it can stall while a buildah is busy).
/// A process that changed directory elsewhere, or that runs in another mount namespace
/// (a bubblewrap sandbox, which dies with its parent anyway), is not found.
enum LeftoverProcesses {
    /// SIGKILLs every process (but this one) whose working directory is `directory` or
    /// below it, and waits up to `timeout` for them to exit. Returns their pids.
    @discardableResult
    static func killAll(workingIn directory: URL, timeout: TimeInterval = 5) -> [Int32] {
        let root = directory.resolvingSymlinksInPath().path
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        let found = pids.filter { pid in
            guard pid != getpid(), let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd") else {
                return false
            }
            return cwd == root || cwd.hasPrefix(root + "/")
        }
        for pid in found { kill(pid, SIGKILL) }
        let deadline = Date().addingTimeInterval(timeout)
        while found.contains(where: { isAlive($0) }), Date() < deadline { usleep(10_000) }
        return found
    }
}
