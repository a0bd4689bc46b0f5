import Metrics

/// The store's series in `/metrics`: where a stored delivery's time goes between its
/// arrival at the store and its answer. Made on first use, after the daemon has
/// bootstrapped its metrics system (`declare()` makes them at start-up).
public enum StoreMetrics {
    /// Deliveries per group transaction.
    static let groupSize = Recorder(label: "slipway_delivery_group_size", aggregate: true)
    /// Per delivery: from its arrival at the store to the start of its group's write.
    static let groupWait = Timer(label: "slipway_delivery_group_wait_seconds")
    /// Per group: its transaction, up to its commit (not synced yet).
    static let groupWrite = Timer(label: "slipway_delivery_group_write_seconds")
    /// Per group: from its commit until it is durable (the sync under way, then its own).
    static let groupDurableWait = Timer(label: "slipway_delivery_group_durable_wait_seconds")
    /// Per fdatasync of the log.
    static let syncDuration = Timer(label: "slipway_store_sync_seconds")
    /// Commits (of any write, not only deliveries) made durable by one sync.
    static let commitsPerSync = Recorder(label: "slipway_store_commits_per_sync", aggregate: true)

    /// Makes every series, so that `/metrics` shows them (empty) before the first delivery.
    public static func declare() {
        _ = (groupSize, groupWait, groupWrite, groupDurableWait, syncDuration, commitsPerSync)
    }
}
