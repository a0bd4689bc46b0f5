import NIOCore
import Synchronization

/// One per event loop: once a second, closes that loop's connections whose phase has
/// outlived its limit. A request costs only a clock update, no timer of its own.
final class DeadlineSweeper {
    private let limits: ConnectionLimits
    private var connections: [ObjectIdentifier: RawBytesHandler] = [:]
    private var task: RepeatedTask?
    private let loop: any EventLoop

    private init(loop: any EventLoop, limits: ConnectionLimits) {
        self.loop = loop
        self.limits = limits
    }

    private static let sweepers = Mutex<[ObjectIdentifier: NIOLoopBound<DeadlineSweeper>]>([:])

    /// The sweeper of `loop` (call on that loop).
    static func on(_ loop: any EventLoop, limits: ConnectionLimits) -> DeadlineSweeper {
        sweepers.withLock { sweepers in
            if let existing = sweepers[ObjectIdentifier(loop)] { return existing.value }
            let sweeper = DeadlineSweeper(loop: loop, limits: limits)
            sweepers[ObjectIdentifier(loop)] = NIOLoopBound(sweeper, eventLoop: loop)
            return sweeper
        }
    }

    func add(_ connection: RawBytesHandler) {
        connections[ObjectIdentifier(connection)] = connection
        if task == nil {
            let sweeper = NIOLoopBound(self, eventLoop: loop)
            task = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in sweeper.value.sweep() }
        }
    }

    func remove(_ connection: RawBytesHandler) {
        connections[ObjectIdentifier(connection)] = nil
    }

    private func sweep() {
        let now = NIODeadline.now()
        for connection in connections.values {
            if let phase = connection.clock.expired(at: now, limits) {
                connections[ObjectIdentifier(connection)] = nil
                connection.expire(phase)
            }
        }
    }
}
