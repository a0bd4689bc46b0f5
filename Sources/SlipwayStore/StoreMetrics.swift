import Metrics

/// The store's series in `/metrics`: where a stored delivery's time goes between its
/// arrival at the store and its answer. Made on first use, after the daemon has
/// bootstrapped its metrics system (`declare()` makes them at start-up), with the
/// histogram buckets the daemon's metrics factory takes from here.
public enum StoreMetrics {
    /// Deliveries per group transaction.
    public static let groupSize = Recorder(label: Series.groupSize, aggregate: true)
    /// Per delivery: from its arrival at the store to the start of its group's write.
    public static let groupWait = Timer(label: Series.groupWait)
    /// Per group: its transaction, up to its commit (on SQLite, not synced yet).
    public static let groupWrite = Timer(label: Series.groupWrite)
    /// Per group: from its commit until it is durable (the sync under way, then its own).
    static let groupDurableWait = Timer(label: Series.groupDurableWait)
    /// Per fdatasync of the log.
    static let syncDuration = Timer(label: Series.sync)
    /// Commits (of any write, not only deliveries) made durable by one sync.
    static let commitsPerSync = Recorder(label: Series.commitsPerSync, aggregate: true)

    private enum Series {
        static let groupSize = "slipway_delivery_group_size"
        static let groupWait = "slipway_delivery_group_wait_seconds"
        static let groupWrite = "slipway_delivery_group_write_seconds"
        static let groupDurableWait = "slipway_delivery_group_durable_wait_seconds"
        static let sync = "slipway_store_sync_seconds"
        static let commitsPerSync = "slipway_store_commits_per_sync"
    }

    /// The times' buckets, by series: 50 µs to 1 s (a build's are seconds to an hour).
    public static var durationBuckets: [String: [Duration]] {
        let times: [Duration] = [50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100_000, 1_000_000].map { .microseconds($0) }
        return [Series.groupWait: times, Series.groupWrite: times, Series.groupDurableWait: times, Series.sync: times]
    }

    /// The counts' buckets, by series.
    public static var valueBuckets: [String: [Double]] {
        [Series.groupSize: [1, 2, 4, 8, 16, 32, 64, 128, 256], Series.commitsPerSync: [1, 2, 3, 4, 6, 8, 16, 32, 64]]
    }

    /// Makes every series, so that `/metrics` shows them (empty) before the first delivery.
    public static func declare() {
        _ = (groupSize, groupWait, groupWrite, groupDurableWait, syncDuration, commitsPerSync)
    }
}
