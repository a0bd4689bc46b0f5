import Synchronization

/// "Something changed; look again": one waiter at a time is woken by `signal()`, or by
/// a deadline, or by its task's cancellation. A signal given while nobody waits is kept
/// (once) for the next wait, so none is lost between a look and the next wait. The
/// services that used to poll (the queue's drain, the status poster) wait on one of these.
public final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        var generation: UInt64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    public func signal() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
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
        let generation = state.withLock { state in
            state.generation &+= 1
            return state.generation
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    if Task.isCancelled || state.generation != generation { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
                guard state.generation == generation, let waiter = state.waiter else { return nil }
                state.waiter = nil
                return waiter
            }
            waiter?.resume()
        }
    }
}
