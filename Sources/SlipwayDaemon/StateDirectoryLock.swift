import Foundation

/// One daemon per state_dir (SPEC): an exclusive `flock` on `state_dir/slipwayd.lock`,
/// taken before anything in the directory is touched and held for the life of the
/// process (the kernel lets go when it dies, however it dies). A second daemon would
/// take the first one's running builds for leftovers of a crash and kill them.
final class StateDirectoryLock: Sendable {
    private let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    static func acquire(stateDirectory: String) throws(DaemonStartError) -> StateDirectoryLock {
        let path = stateDirectory + "/slipwayd.lock"
        // O_CLOEXEC: a build's processes must not inherit the lock and hold it after the daemon is gone.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw DaemonStartError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let holder = Self.recordedPID(descriptor)
            close(descriptor)
            guard reason == EWOULDBLOCK else { throw DaemonStartError("cannot lock \(path): \(String(cString: strerror(reason)))") }
            throw DaemonStartError(
                "state_dir \(stateDirectory) is in use by another slipwayd (\(holder.map { "pid \($0)" } ?? "pid unknown")); "
                    + "one daemon per state_dir: stop it, or give this one its own state_dir")
        }
        let text = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, text, text.utf8.count, 0)
        return StateDirectoryLock(descriptor: descriptor)
    }

    private static func recordedPID(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    deinit { close(descriptor) }
}
