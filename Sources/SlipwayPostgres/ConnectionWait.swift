import SlipwayCore
import Synchronization

/// A bound on how long work waits for a pooled connection. postgres-nio's pool keeps a
/// request waiting while it retries an unreachable server, as long as it takes; a
/// delivery must be refused (503) within seconds instead, and never be told "failed"
/// once its transaction has begun (it may commit). A pool that is only busy (every
/// connection in use, the server fine) is waited for longer: after `limit`, `reachable`
/// is asked (a connection of its own), and only an unreachable server ends the wait.
enum ConnectionWait {
    private enum Phase { case waiting, begun, abandoned }

    /// Runs `work`, which calls `begin()` as soon as it has its connection. Throws
    /// `ConnectionWaitExpired` when `limit` passes first; work that has begun is waited for.
    static func bounded<T: Sendable>(
        _ limit: Duration, busyLimit: Duration = .seconds(60), location: PostgresLocation,
        reachable: @escaping @Sendable () async -> Bool,
        _ work: @escaping @Sendable (_ begin: @escaping @Sendable () throws -> Void) async throws -> T
    ) async throws -> T {
        let phase = Mutex(Phase.waiting)
        let begin: @Sendable () throws -> Void = {
            let abandoned = phase.withLock { phase in
                if phase == .waiting { phase = .begun }
                return phase == .abandoned
            }
            if abandoned { throw CancellationError() }
        }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work(begin) }
            group.addTask {
                // Cancelled (the work is done): no question to the server. Asked on every
                // transaction, it cost PostgreSQL a backend forked and ended each time.
                do { try await Task.sleep(for: limit) } catch { return nil }
                if await reachable() { try? await Task.sleep(for: busyLimit - limit) }
                return nil
            }
            while let finished = try await group.next() {
                if let value = finished {
                    group.cancelAll()
                    return value
                }
                let gaveUp = phase.withLock { phase in
                    if phase == .waiting { phase = .abandoned }
                    return phase == .abandoned
                }
                if gaveUp {
                    group.cancelAll()
                    throw ConnectionWaitExpired(location: location, limit: limit)
                }
            }
            throw CancellationError()
        }
    }
}

/// No pooled connection to PostgreSQL came within the limit: the server is down,
/// unreachable, or refuses this replica (its log says why).
public struct ConnectionWaitExpired: Error, CustomStringConvertible {
    let location: PostgresLocation
    let limit: Duration

    public var description: String {
        "no connection to PostgreSQL at \(location.host):\(location.port) within \(DurationText.format(limit))"
            + " (the server cannot be reached, or every pooled connection stayed busy)"
    }
}
