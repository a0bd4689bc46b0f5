import Foundation
import GRDB
import Synchronization

/// Whether the store can keep what it is given, for `/readyz` and for the routes that
/// must not answer 202 for what they did not store:
/// - the database file must still be the one that was opened: removed or replaced under
///   the daemon, every later write would go to a file no restart will see (device and
///   inode, compared with the file at the path at most once a second);
/// - the last write must not have failed for want of storage (a full disk, an I/O error,
///   a read-only file system). Cleared by the next write that succeeds, so the daemon
///   recovers without a restart once space is back.
final class StorageWatch: Sendable {
    let path: String
    private let opened: FileIdentity?
    private struct State {
        var identityProblem: String?
        var identityCheckedAt: ContinuousClock.Instant?
        var writeFailure: String?
    }
    private let state = Mutex(State())

    init(path: String) {
        self.path = path
        opened = FileIdentity(path: path)
    }

    /// Why the store cannot be written to now, or nil. Every delivery asks: the file is
    /// looked at (a `stat`, outside the lock) by one caller a second at most.
    var problem: String? {
        let now = ContinuousClock.now
        let due = state.withLock { state in
            guard state.identityCheckedAt.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
            state.identityCheckedAt = now
            return true
        }
        if due {
            let replaced = FileIdentity(path: path) != opened
            state.withLock { state in
                state.identityProblem =
                    replaced
                    ? "the database file \(path) was removed or replaced while the daemon runs; restart it (writes since then are lost with the old file)"
                    : nil
            }
        }
        return state.withLock { $0.identityProblem ?? $0.writeFailure }
    }

    /// Runs a write, noting whether storage failed it.
    func watching<T>(_ write: () async throws -> T) async throws -> T {
        do {
            let result = try await write()
            note(nil)
            return result
        } catch {
            note(error)
            throw error
        }
    }

    /// Notes how a write ended: nil (it succeeded) clears a storage failure; an error
    /// that is one sets it.
    func note(_ failure: (any Error)?) {
        guard let failure else { return state.withLock { $0.writeFailure = nil } }
        guard let error = failure as? DatabaseError, Self.isStorageFailure(error) else { return }
        state.withLock { $0.writeFailure = "the database cannot be written: \(error.message ?? "\(error.resultCode)")" }
    }

    static func isStorageFailure(_ error: DatabaseError) -> Bool {
        [.SQLITE_FULL, .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_CORRUPT, .SQLITE_NOTADB]
            .contains(error.resultCode.primaryResultCode)
    }
}

/// A file's device and inode: whether the file at a path is still the one opened.
struct FileIdentity: Equatable {
    let device: UInt64
    let inode: UInt64

    init?(path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }
}
