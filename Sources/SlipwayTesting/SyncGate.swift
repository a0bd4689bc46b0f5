import Foundation

/// The log sync of a test's database: held back, counted, or failed on demand; a sync
/// let through is a real fdatasync.
public final class SyncGate: @unchecked Sendable {   // state under `condition`
    private let condition = NSCondition()
    private var open = true
    private var failure: Int32 = 0
    private var count = 0
    private var holding = 0

    public init() {}

    /// The sync to give the database (`SQLiteDatabase(path:sync:)`).
    public var sync: @Sendable (Int32) -> Int32 { { [self] descriptor in pass(descriptor) } }

    public var calls: Int {
        condition.lock()
        defer { condition.unlock() }
        return count
    }

    /// Syncs held at the gate now.
    public var blocked: Int {
        condition.lock()
        defer { condition.unlock() }
        return holding
    }

    public func hold() { set { $0.open = false } }
    public func release() { set { $0.open = true } }
    public func fail(with code: Int32) { set { $0.failure = code } }

    private func set(_ change: (SyncGate) -> Void) {
        condition.lock()
        change(self)
        condition.broadcast()
        condition.unlock()
    }

    private func pass(_ descriptor: Int32) -> Int32 {
        condition.lock()
        defer { condition.unlock() }
        holding += 1
        while !open { condition.wait() }
        holding -= 1
        count += 1
        if failure != 0 { return failure }
        return fdatasync(descriptor) == 0 ? 0 : errno
    }
}
