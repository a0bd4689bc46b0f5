import Synchronization

/// Counts webhook replies by status code, for logs and (later) /metrics.
final class DeliveryCounters: Sendable {
    private let counts = Mutex<[Int: Int]>([:])
    func count(status: Int) { counts.withLock { $0[status, default: 0] += 1 } }
    var snapshot: [Int: Int] { counts.withLock { $0 } }
}
