import Synchronization

/// "Something changed; look again": `signal()` wakes every task waiting now; a signal
/// given while nobody waits is kept (once) for the next wait, so none is lost between a
/// look and the next wait. A wait also ends at its deadline or when its task is
/// cancelled. The services that used to poll (the queue and its drain, the status
/// poster) wait on one of these.
public final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    public func signal() {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            guard !state.waiters.isEmpty else {
                state.pending = true
                return []
            }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when signalled (or a signal is pending), after `timeout` when one is given,
    /// or when the task is cancelled.
    public func wait(timeout: Duration? = nil) async {
        guard let timeout else { return await waitForSignal() }
        guard timeout > .zero else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForSignal() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Like `wait(timeout:)`, with the time to wait until given as an instant.
    public func wait(until deadline: ContinuousClock.Instant?) async {
        await wait(timeout: deadline.map { max(.zero, $0 - .now) })
    }

    private func waitForSignal() async {
        let id = state.withLock { state in
            state.nextWaiter &+= 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    if Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
