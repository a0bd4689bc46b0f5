import Hummingbird
import Logging
import Metrics
import Prometheus
import SlipwayCore
import SlipwayStore

/// GET /metrics: Prometheus text format, no token (SPEC "Other endpoints").
///
/// Counters and histograms are recorded where things happen, through swift-metrics
/// (deliveries in the webhook route, build and step durations in the runner, model bytes
/// in the model step, status-post failures in the poster). The gauges of builds by state
/// and queue depth are read from the store at each scrape, so they are right after a
/// restart and across replicas.
struct MetricsRoute: Sendable {
    let store: any BuildQueryStore
    let registry: PrometheusCollectorRegistry

    func register(on router: Router<BasicRequestContext>) {
        router.get("/metrics") { _, context in
            do {
                let counts = try await store.countByState()
                for state in BuildState.allCases {
                    Gauge(label: "slipway_builds", dimensions: [("state", state.rawValue)]).record(counts[state] ?? 0)
                }
                Gauge(label: "slipway_queue_depth").record(counts[.queued] ?? 0)
            } catch {
                context.logger.warning("metrics: cannot count builds", metadata: ["error": "\(error)"])
            }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(16 * 1024)
            registry.emit(into: &bytes)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }
}

/// The metrics system of a daemon process: a Prometheus registry behind swift-metrics,
/// with histogram buckets sized for builds (seconds to an hour) rather than requests.
public enum DaemonMetrics {
    /// Bootstraps swift-metrics once per process and returns the registry to serve. The
    /// other parts declare their own series at 0 (`declareMetrics()`); the daemon calls them.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [
            "slipway_build_duration_seconds": [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600].map { .seconds($0) },
            "slipway_step_duration_seconds": [0.05, 0.25, 1, 5, 15, 30, 60, 120, 300, 600, 1800].map { .milliseconds(Int64($0 * 1000)) },
        ]
        // The store's own series (the delivery path: microseconds, group sizes).
        factory.durationHistogramBuckets.merge(StoreMetrics.durationBuckets) { _, store in store }
        factory.valueHistogramBuckets.merge(StoreMetrics.valueBuckets) { _, store in store }
        MetricsSystem.bootstrap(factory)
        // Every counter series exists from the start, at 0, so rate() and alerts see it.
        for result in DeliveryResult.allCases { result.counter.increment(by: 0) }
        return registry
    }
}
