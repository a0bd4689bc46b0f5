import Logging
import ServiceLifecycle
import SlipwayStore

/// Acts on what other replicas announce (`ReplicaEvents`): a build canceled through
/// another replica is stopped here if it runs here.
public struct ReplicaEventListener: Service, CustomStringConvertible {
    public var description: String { "ReplicaEventListener" }

    let events: any ReplicaEvents
    let queue: BuildQueue
    let logger: Logger

    public init(events: any ReplicaEvents, queue: BuildQueue, logger: Logger) {
        self.events = events
        self.queue = queue
        self.logger = logger
    }

    public func run() async throws {
        _ = await cancelWhenGracefulShutdown { [events, queue, logger] in
            await events.listen { event in
                switch event {
                case .canceled(let id, let who):
                    if queue.stop(id, reason: .canceledElsewhere(by: who)) {
                        logger.notice("stopping a build canceled through another replica", metadata: ["build": "\(id)", "by": "\(who)"])
                    }
                }
            }
        }
    }
}
