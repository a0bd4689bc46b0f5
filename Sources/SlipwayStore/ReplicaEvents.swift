/// What replicas sharing one database tell each other as it happens (PostgreSQL:
/// NOTIFY on one channel, LISTEN on a connection of each replica's own). Best effort: a
/// missed event is caught later by the leases (a canceled build is not renewed, and its
/// replica stops it at the next renewal).
public protocol ReplicaEvents: Sendable {
    /// Tells every replica, this one included; failures are logged, not thrown.
    func announce(_ event: ReplicaEvent) async
    /// Hands each event to `handle` until the calling task is cancelled, listening again
    /// after the database was lost.
    func listen(_ handle: @escaping @Sendable (ReplicaEvent) async -> Void) async
}

public enum ReplicaEvent: Sendable, Equatable {
    /// An operator canceled a running build on some replica: whichever runs it stops it.
    case canceled(buildID: Int64, by: String)

    /// The payload sent (`cancel 12 ops-alice`).
    public var payload: String {
        switch self {
        case .canceled(let id, let who): "cancel \(id) \(who)"
        }
    }

    /// A payload back; nil for one this version does not know (a newer replica's).
    public init?(payload: String) {
        let parts = payload.split(separator: " ", maxSplits: 2)
        guard parts.count == 3, parts[0] == "cancel", let id = Int64(parts[1]) else { return nil }
        self = .canceled(buildID: id, by: String(parts[2]))
    }
}
