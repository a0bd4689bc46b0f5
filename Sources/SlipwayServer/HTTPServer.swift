import Hummingbird
import ServiceLifecycle
import Logging
import SlipwayCore
import SlipwayPipeline
import SlipwayStore

/// Builds the HTTP application (a `Service`): webhook route and health endpoints.
public enum HTTPServer {
    public static func make(
        listen: ListenAddress, store: any BuildStore, config: LiveConfig, queue: BuildQueue, followers: LogFollowers,
        logger: Logger, onRunning: @escaping @Sendable (String) async -> Void = { _ in }
    ) -> some Service {
        let router = Router(context: BasicRequestContext.self)
        WebhookRoute(store: store, config: config, queue: queue, metrics: DeliveryCounters()).register(on: router)
        HealthRoutes(store: store, queue: queue).register(on: router)
        OperatorAPI(store: store, config: config, queue: queue, followers: followers).register(on: router)
        let address: BindAddress = switch listen {
        case .tcp(let host, let port): .hostname(host, port: port)
        case .unix(let path): .unixDomainSocket(path: path)
        }
        return Application(
            router: router,
            configuration: .init(address: address, serverName: "slipway"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.description ?? listen.description) },
            logger: logger)
    }
}
