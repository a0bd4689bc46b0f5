import Logging
import ServiceLifecycle
import SlipwayCore
import SlipwayPipeline
import SlipwayStore
import Synchronization

/// systemd's watchdog (`WatchdogSec=`): `WATCHDOG=1` every `interval` (half of
/// `WATCHDOG_USEC`), each only after the database answered a write (`StoreHealth.ping`,
/// as for `/readyz`) within that interval. A daemon whose database hangs stops sending,
/// and systemd restarts it. A ping that has not come back is not sent a second time.
struct WatchdogKeeper: Service {
    let interval: Duration
    let store: any StoreHealth
    let notifier: ServiceManagerNotifier
    let logger: Logger

    func run() async throws {
        let pinging = PingInFlight()
        var withheld = false
        var tick = ContinuousClock.now
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            // Half the interval for the answer: two WATCHDOG=1 are at most 1.5 intervals
            // (0.75 WATCHDOG_USEC) apart while the database answers.
            let answered = await Self.pinged(store, within: interval / 2, pinging: pinging)
            if answered {
                notifier.send(.watchdog)
                if withheld { logger.notice("watchdog: the database answers again; WATCHDOG=1 resumed") }
            } else if !withheld {
                logger.error(
                    "watchdog: the database does not answer; WATCHDOG=1 withheld (systemd restarts slipwayd after WatchdogSec=)",
                    metadata: ["interval": "\(DurationText.format(interval))"])
            }
            withheld = !answered
            tick = max(tick + interval, ContinuousClock.now)
            let next = tick
            _ = try? await cancelOnGracefulShutdown { try await Task.sleep(until: next, clock: .continuous) }
        }
    }

    /// Whether a ping succeeded within `limit`. A ping still out from an earlier round
    /// counts as no answer and is not repeated; it is left to finish (an SQLite write
    /// waiting for a lock, a query on a dropped connection, cannot be cancelled).
    static func pinged(_ store: any StoreHealth, within limit: Duration, pinging: PingInFlight) async -> Bool {
        guard pinging.busy.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return false }
        do {
            try await Abandonable.within(limit) {
                defer { pinging.busy.store(false, ordering: .relaxed) }
                try await store.ping()
            }
            return true
        } catch {
            return false
        }
    }
}

/// Whether a watchdog ping is still out.
final class PingInFlight: Sendable {
    let busy = Atomic<Bool>(false)
}
