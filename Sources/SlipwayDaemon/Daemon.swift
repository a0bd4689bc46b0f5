import CSystemCalls
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import SlipwayCore
import SlipwayGitHub
import SlipwayPipeline
import SlipwayServer
import SlipwayStore
import UnixSignals

/// Wires the daemon: store, build queue, HTTP server and config reloader, each a
/// `Service` in one `ServiceGroup` that owns SIGTERM/SIGINT (graceful) shutdown.
public enum Daemon {
    public static func run(configPath: String) async throws {
        // No process of the daemon's user (a build's, above all) may read its memory or
        // /proc/<pid>/environ, where its secrets are; no core dump holds them either.
        _ = slipway_set_dumpable(0)
        let manager = ServiceManagerSettings.takeFromEnvironment()
        let loader = ConfigLoader(path: configPath)
        let resolved = try loader.load()
        let config = resolved.config
        let level = Logger.Level(rawValue: config.logLevel.rawValue) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler(label: label, stream: EscapingStandardError(), metadataProvider: nil)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "slipwayd")
        let notifier = manager.notifySocket.flatMap { ServiceManagerNotifier(socketPath: $0, logger: logger) }
        let metrics = DaemonMetrics.bootstrap()
        CommitStatusPoster.declareMetrics()
        ModelStep.declareMetrics()
        DeployRunner.declareMetrics()
        PushStep.declareMetrics()
        BranchReconciler.declareMetrics()
        StoreMetrics.declare()

        try FileManager.default.createDirectory(
            atPath: config.stateDirectory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o750])
        let lock = try StateDirectoryLock.acquire(stateDirectory: config.stateDirectory)
        defer { withExtendedLifetime(lock) {} }
        let passedSocket: CInt?
        switch manager.passedSocket {
        case .none: passedSocket = nil
        case .unusable(let problem): throw DaemonStartError(problem)
        case .descriptor(let descriptor):
            if let problem = ListenCheck.passedSocketProblem(descriptor) { throw DaemonStartError(problem) }
            passedSocket = descriptor
        }
        if passedSocket == nil, let problem = ListenCheck.problem(config.server.listen) { throw DaemonStartError(problem) }
        let opened = try await DaemonStore.open(config, resolved, logger: logger)
        defer { opened.close() }
        let store = opened.store
        let live = LiveConfig(resolved)
        let toolEnvironment = ToolEnvironment.fromProcess()
        let sandboxHost = SandboxHost.fromProcess(configPath: configPath)
        if let problem = await sandboxProblem(for: config, host: sandboxHost) {
            // Builds are not run unconfined instead: each sandboxed step ends in `error` with this reason.
            logger.critical(
                "build code cannot be sandboxed on this host; sandboxed builds will end in error", metadata: ["problem": "\(problem)"])
        }
        let plan = BuildPlan(toolEnvironment: toolEnvironment)
        let followers = LogFollowers()
        let runner = BuildRunner(
            store: store, config: live, toolEnvironment: toolEnvironment, sandboxHost: sandboxHost,
            followers: followers, logArchive: opened.logArchive, logger: logger, planSteps: plan.steps)
        let queue = BuildQueue(store: store, config: live, runner: runner, replicas: opened.replicas, logger: logger)
        let intake = BuildIntake(store: store, config: live, queue: queue)
        let deployer = DeployRunner(builds: store, deployments: store, config: live, toolEnvironment: toolEnvironment, logger: logger)
        let scheduler = DeployScheduler(deployments: store, runner: deployer, config: live, logger: logger)
        let openFiles = OpenFileLimit.raise()
        let maxConnections = OpenFileLimit.connectionCap(configured: config.server.maxConnections, openFiles: openFiles)
        if maxConnections < config.server.maxConnections {
            logger.warning(
                "server.max_connections lowered to fit the open-file limit (raise LimitNOFILE=)",
                metadata: [
                    "max_connections": "\(maxConnections)", "configured": "\(config.server.maxConnections)", "open_files": "\(openFiles)",
                ])
        }
        let server = HTTPServer.make(
            listen: config.server.listen, store: store, intake: intake, config: live, queue: queue, followers: followers,
            deployments: (store, deployer), liveImages: LiveImageReader(config: live, toolEnvironment: toolEnvironment), metrics: metrics,
            logArchive: opened.logArchive, maxConnections: maxConnections,
            passedSocket: passedSocket, logger: logger
        ) { address in
            logger.notice(
                "listening",
                metadata: [
                    "address": "\(address)", "config": "\(configPath)",
                    "socket": "\(passedSocket == nil ? "bound by slipwayd" : "passed by the service manager (LISTEN_FDS)")",
                ])
            guard let notifier else { return }
            // READY=1 once /readyz would answer 200 (the queue runs, the database is written),
            // waited for beside the server, which accepts meanwhile (/healthz answers).
            Task {
                while await Readiness.problem(store: store, queue: queue, logger: logger) != nil {
                    try? await Task.sleep(for: .milliseconds(250))
                }
                notifier.send(.ready(status: "serving on \(address), \(live.snapshot.config.repositories.count) repositories"))
            }
        }
        let statuses = CommitStatusPoster(store: store, config: live, logger: logger)
        let watcher = ModelWatcher(intake: intake, config: live, logger: logger)
        let reconciler = BranchReconciler(intake: intake, builds: store, config: live, logger: logger)
        let reloader = ConfigReloader(loader: loader, live: live, notifier: notifier, logger: logger) { _ in queue.wake() }
        var replicaServices: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let leases = opened.leases { replicaServices.append(.init(service: LeaseKeeper(store: leases, queue: queue, logger: logger))) }
        if let replicas = opened.replicas {
            replicaServices.append(.init(service: ReplicaEventListener(events: replicas, queue: queue, logger: logger)))
        }
        // First in the group, so stopped last: the watchdog is fed until the builds are settled.
        let watchdog = manager.watchdogInterval.flatMap { interval in
            notifier.map { WatchdogKeeper(interval: interval, store: store, notifier: $0, logger: logger) }
        }

        // Shutdown runs in reverse order: open log streams end first, then the server
        // stops accepting, then the reloader, then the queue finishes or checkpoints its
        // builds (their leases kept meanwhile).
        let group = ServiceGroup(
            configuration: .init(
                // The lease keeper stops last: a build finishing within the grace keeps its lease.
                services: (watchdog.map { [.init(service: $0)] } ?? []) + replicaServices + [
                    .init(service: opened.once("status-poster", statuses, logger: logger)), .init(service: queue),
                    .init(service: opened.once("deploy-scheduler", scheduler, logger: logger)),
                    .init(service: opened.once("model-watch", watcher, logger: logger)),
                    .init(service: opened.once("reconcile", reconciler, logger: logger)),
                    .init(service: reloader), .init(service: server),
                    .init(
                        service: ShutdownHook {
                            notifier?.send(.stopping)
                            followers.close()
                        }),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await scheduler.recoverInterrupted()   // before the API can start a deployment
        logger.notice(
            "starting",
            metadata: [
                "state_dir": "\(config.stateDirectory)", "workers": "\(config.queue.workers)",
                "repositories": "\(config.repositories.count)",
            ])
        do {
            try await group.run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            // Taken between the check above and the bind.
            throw DaemonStartError("cannot listen on \(config.server.listen): address already in use")
        }
        logger.notice("stopped")
    }

    /// `--check-config`'s sandbox check: nil when no repository's code is sandboxed or the
    /// sandbox works here; else the problem, naming the fix.
    public static func sandboxProblem(for config: Config, configPath: String) async -> String? {
        await sandboxProblem(for: config, host: SandboxHost.fromProcess(configPath: configPath))
    }

    static func sandboxProblem(for config: Config, host: SandboxHost) async -> String? {
        guard config.usesBubblewrap else { return nil }
        return await SandboxProbe.problem(host: host)
    }
}

struct DaemonStartError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
