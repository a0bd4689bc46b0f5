import Logging
import PostgresNIO
import SlipwayStore

/// `ReplicaEvents` over PostgreSQL's NOTIFY: announced through the pool, heard on a
/// connection of the replica's own (a pooled connection cannot keep a LISTEN), made
/// again a second after it is lost.
public struct PostgresReplicaEvents: ReplicaEvents {
    static let channel = "slipway_events"
    let database: PostgresDatabase
    let logger: Logger

    public init(database: PostgresDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func announce(_ event: ReplicaEvent) async {
        do {
            _ = try await database.client.query("SELECT pg_notify(\(Self.channel), \(event.payload))", logger: logger)
        } catch {
            logger.warning("cannot tell the other replicas", metadata: ["event": "\(event.payload)", "error": "\(error)"])
        }
    }

    public func listen(_ handle: @escaping @Sendable (ReplicaEvent) async -> Void) async {
        while !Task.isCancelled {
            do {
                let connection = try await database.connect()
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: Self.channel) { notifications in
                    for try await notification in notifications {
                        guard let event = ReplicaEvent(payload: notification.payload) else { continue }
                        await handle(event)
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                logger.warning(
                    "lost the database connection that hears the other replicas; listening again", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
