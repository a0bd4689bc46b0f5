import Hummingbird
import HummingbirdCore
import Logging
import Prometheus
import ServiceLifecycle
import SlipwayCore
import SlipwayPipeline
import SlipwayStore

/// Builds the HTTP application (a `Service`): webhook route, health and metrics endpoints, operator API
/// and pages.
public enum HTTPServer {
    public static func make(
        listen: ListenAddress, store: any BuildQueryStore & StoreHealth, intake: BuildIntake, config: LiveConfig, queue: BuildQueue,
        followers: LogFollowers,
        deployments: (store: any DeploymentStore, runner: DeployRunner)? = nil, metrics: PrometheusCollectorRegistry? = nil,
        logArchive: (any BuildLogArchive)? = nil,
        maxConnections: Int? = nil, logger: Logger, onRunning: @escaping @Sendable (String) async -> Void = { _ in }
    ) -> some Service {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ServerErrorLogging())
        let webhooks = WebhookRoute(health: store, intake: intake, config: config)
        webhooks.register(on: router)
        HealthRoutes(store: store, queue: queue).register(on: router)
        let logs = BuildLogSource(config: config, archive: logArchive)
        let api = OperatorAPI(store: store, intake: intake, config: config, queue: queue, followers: followers, logs: logs)
        api.register(on: router)
        if let deployments {
            DeploymentAPI(deployments: deployments.store, runner: deployments.runner, config: config, api: api).register(on: router)
        }
        PageRoutes(store: store, config: config, followers: followers, logs: logs).register(on: router)
        if let metrics { MetricsRoute(store: store, registry: metrics).register(on: router) }
        let address: BindAddress =
            switch listen {
            case .tcp(let host, let port): .hostname(host, port: port)
            case .unix(let path): .unixDomainSocket(path: path)
            }
        let server = config.snapshot.config.server
        let limits = ConnectionLimits(
            maxConnections: maxConnections ?? server.maxConnections, headerTimeout: .init(server.headerTimeout),
            bodyTimeout: .init(server.bodyTimeout), idleTimeout: .init(server.idleTimeout), maxBodyBytes: server.maxBodyBytes)
        let connections = ConnectionCount(limit: limits.maxConnections)
        return Application(
            router: router,
            server: HTTPServerBuilder { responder in
                GuardedHTTP1Channel(responder: responder, limits: limits, connections: connections, webhooks: webhooks)
            },
            configuration: .init(address: address, serverName: "slipway"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.description ?? listen.description) },
            logger: logger)
    }
}
