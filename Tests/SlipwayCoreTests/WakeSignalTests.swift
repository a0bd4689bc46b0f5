import SlipwayCore
import Testing

@Suite struct WakeSignalTests {
    @Test func aSignalGivenBeforeTheWaitIsKeptOnce() async {
        let signal = WakeSignal()
        signal.signal()
        signal.signal()
        await signal.wait()   // the kept signal: returns at once
        let started = ContinuousClock.now
        await signal.wait(timeout: .milliseconds(200))   // both signals were one
        #expect(ContinuousClock.now - started >= .milliseconds(200))
    }

    @Test func aWaiterIsWokenBySignal() async {
        let signal = WakeSignal()
        async let waited: Void = signal.wait()
        // Signal until the waiter has returned (it may not have started waiting yet).
        let waker = Task {
            while !Task.isCancelled {
                signal.signal()
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        await waited
        waker.cancel()
    }

    @Test func aTimeoutEndsTheWait() async {
        let signal = WakeSignal()
        let started = ContinuousClock.now
        await signal.wait(timeout: .milliseconds(100))
        #expect(ContinuousClock.now - started >= .milliseconds(100))
    }

    @Test func cancellationEndsTheWait() async {
        let signal = WakeSignal()
        let waiter = Task { await signal.wait() }
        try? await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await waiter.value   // returns: a wait never outlives its task's cancellation
    }
}
