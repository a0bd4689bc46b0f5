import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import SlipwayCore
import SlipwayPipeline
import SlipwayStore

/// Builds the HTTP application (a `Service`): webhook route, health and metrics endpoints, operator API
/// and pages. It binds `listen`, or serves `passedSocket` (socket activation) when given.
public enum HTTPServer {
    public static func make(
        listen: ListenAddress, store: any BuildQueryStore & StoreHealth, intake: BuildIntake, config: LiveConfig, queue: BuildQueue,
        followers: LogFollowers,
        deployments: (store: any DeploymentStore, runner: DeployRunner)? = nil, liveImages: LiveImageReader? = nil,
        metrics: PrometheusCollectorRegistry? = nil,
        logArchive: (any BuildLogArchive)? = nil,
        maxConnections: Int? = nil, passedSocket: CInt? = nil, logger: Logger,
        onRunning: @escaping @Sendable (String) async -> Void = { _ in }
    ) -> any Service {
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
        let statuses = RepositoryStatusSource(builds: store, deployments: deployments?.store, live: liveImages, config: config)
        RepositoryAPI(source: statuses, api: api).register(on: router)
        PageRoutes(store: store, config: config, followers: followers, logs: logs, statuses: statuses).register(on: router)
        if let metrics { MetricsRoute(store: store, registry: metrics).register(on: router) }
        let server = config.snapshot.config.server
        let limits = ConnectionLimits(
            maxConnections: maxConnections ?? server.maxConnections, headerTimeout: .init(server.headerTimeout),
            bodyTimeout: .init(server.bodyTimeout), idleTimeout: .init(server.idleTimeout), maxBodyBytes: server.maxBodyBytes)
        let connections = ConnectionCount(limit: limits.maxConnections)
        let address: HTTPListener<GuardedHTTP1Channel>.Address =
            switch (passedSocket, listen) {
            case (let descriptor?, _): .passed(descriptor: descriptor)
            case (nil, .tcp(let host, let port)): .tcp(host: host, port: port)
            case (nil, .unix(let path)): .unix(path: path)
            }
        let responder = HTTPListener<GuardedHTTP1Channel>.responder(router.buildResponder(), serverName: "slipway", logger: logger)
        return HTTPListener(
            address: address,
            childChannel: GuardedHTTP1Channel(responder: responder, limits: limits, connections: connections, webhooks: webhooks),
            logger: logger
        ) { channel in await onRunning(Self.text(channel.localAddress) ?? listen.description) }
    }

    /// `127.0.0.1:8080`, `[::1]:8080` or `unix:/run/slipway/slipway.sock`, as `server.listen` is written.
    static func text(_ address: SocketAddress?) -> String? {
        guard let address else { return nil }
        if let path = address.pathname { return "unix:" + path }
        guard let ip = address.ipAddress, let port = address.port else { return address.description }
        return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
