import Synchronization

/// The config in force, swapped whole on SIGHUP. Readers take a snapshot per request or
/// per build, so one delivery or build never sees half of an old and half of a new config.
public final class LiveConfig: Sendable {
    private let current: Mutex<ResolvedConfig>

    public init(_ initial: ResolvedConfig) { current = Mutex(initial) }

    public var snapshot: ResolvedConfig { current.withLock { $0 } }

    public func replace(with new: ResolvedConfig) { current.withLock { $0 = new } }
}
