import CSystemCalls
import Foundation
import Metrics
import Synchronization

/// Open connections, against the cap. After a flood is over (many connections, then few)
/// the allocator is asked to give freed memory back to the system: glibc keeps it
/// otherwise, and RSS stays at the flood's peak.
final class ConnectionCount: Sendable {
    let limit: Int
    private let state = Mutex<(open: Int, peak: Int)>((0, 0))

    init(limit: Int) { self.limit = limit }

    /// Counts a new connection; false (and not counted) when the cap is reached.
    func open() -> Bool {
        let count: Int? = state.withLock { state in
            guard state.open < limit else { return nil }
            state.open += 1
            state.peak = max(state.peak, state.open)
            return state.open
        }
        guard let count else { return false }
        ConnectionMetrics.open.record(count)
        return true
    }

    func close() {
        let (count, trim) = state.withLock { state in
            state.open -= 1
            let trim = state.peak >= 256 && state.open <= state.peak / 8
            if trim { state.peak = state.open }
            return (state.open, trim)
        }
        ConnectionMetrics.open.record(count)
        if trim { DispatchQueue.global(qos: .utility).async { _ = slipway_release_free_memory() } }
    }
}

enum ConnectionMetrics {
    static let open = Gauge(label: "slipway_http_connections_open")
    static let refused = Counter(label: "slipway_http_connections_refused_total")
    private static let timeouts = Dictionary(
        uniqueKeysWithValues: [ConnectionClock.Phase.head, .body, .idle, .responding].map {
            ($0, Counter(label: "slipway_http_connections_timed_out_total", dimensions: [("phase", $0.rawValue)]))
        })

    /// A connection that sent nothing counts as one whose head did not come in time.
    static func timedOut(_ phase: ConnectionClock.Phase) -> Counter { timeouts[phase == .fresh ? .head : phase]! }
}
