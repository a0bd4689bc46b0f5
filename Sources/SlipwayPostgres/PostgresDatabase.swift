import Logging
import NIOSSL
import PostgresNIO
import SlipwayCore
import SlipwayStore

/// The one PostgreSQL database every replica shares: a pool of connections to it
/// (`PostgresClient`), which `run()` keeps (the daemon runs it as a service, a test in a
/// task), and its schema, brought up to date by `migrate()` before anything else uses it.
public final class PostgresDatabase: Sendable {
    private let clientPool: PostgresClient
    private let controlPool: PostgresClient
    private let clientRuns = PoolStarted()
    private let controlRuns = PoolStarted()

    /// The pool, once `run()` has started it: a lease asked for before then waits here
    /// rather than in the pool (which logs a warning for each such lease).
    public var client: PostgresClient {
        get async {
            await clientRuns.wait()
            return clientPool
        }
    }

    /// A small pool of its own for the leases (renewals, take-overs, singleton jobs): they
    /// must not queue behind a burst of deliveries in the main pool, or a busy replica
    /// would miss its own leases.
    var control: PostgresClient {
        get async {
            await controlRuns.wait()
            return controlPool
        }
    }
    public let location: PostgresLocation
    let logger: Logger
    private let password: String?
    /// Settings every session of this replica starts with, pooled or not.
    private let startupParameters: [(String, String)]
    static let connectTimeout: Duration = .seconds(5)
    /// Where transactions run (`PostgresBuildStore.transaction`, the delivery groups): each
    /// statement's answer resumes its transaction at once, not behind every HTTP request
    /// waiting for a thread of the cooperative pool. A transaction may hold a lane's lock
    /// between its statements, so such waits held up the whole cluster's writes to it.
    static let executor = DispatchTaskExecutor(label: "slipway.postgres", qos: .userInitiated, concurrent: false)

    /// `password`: resolved from `database_password`; nil for a server that asks none.
    /// `idleInTransaction`: the server ends a session left idle inside a transaction for
    /// longer (`idle_in_transaction_session_timeout`), and with it the transaction's row
    /// locks. A replica paused (SIGSTOP) or cut off in the middle of a transaction would
    /// otherwise keep its build's row locked for as long as it stays away, and no other
    /// replica could take the build over (take-overs skip locked rows).
    public init(
        location: PostgresLocation, password: String?, maximumConnections: Int = 20, idleInTransaction: Duration? = nil, logger: Logger
    ) {
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user, password: password, database: location.database,
            tls: Self.tls(location.tls))
        startupParameters = idleInTransaction.map { [("idle_in_transaction_session_timeout", "\(Int($0.inSeconds * 1000))")] } ?? []
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = Self.connectTimeout
        configuration.options.additionalStartupParameters = startupParameters
        self.location = location
        self.logger = logger
        self.password = password
        clientPool = PostgresClient(configuration: configuration, backgroundLogger: logger)
        configuration.options.maximumConnections = 2
        controlPool = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    /// Keeps the pools until the calling task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            // Opened just before each pool's run(), which marks the pool running before it
            // first suspends: no lease reaches a pool that is not running yet.
            group.addTask {
                self.clientRuns.open()
                await self.clientPool.run()
            }
            group.addTask {
                self.controlRuns.open()
                await self.controlPool.run()
            }
        }
    }

    /// `sslmode`: `require` encrypts without checking who answers; `verify-full` checks the
    /// server's certificate against the system's roots and its name against the host.
    static func tls(_ mode: PostgresLocation.TLS) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: .disable
        case .require, .verifyFull: .require(tlsConfiguration(mode))
        }
    }

    private static func tlsConfiguration(_ mode: PostgresLocation.TLS) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if mode == .require { configuration.certificateVerification = .none }
        return configuration
    }

    /// Brings the schema up to date (`PostgresMigrations`), on a connection of its own
    /// rather than the pool's: the pool retries a refused login for as long as a query
    /// waits, while start-up must fail at once, saying why (wrong password, no such
    /// database, server not reachable). Returns the versions this call applied.
    @discardableResult
    public func migrate() async throws -> [Int] {
        let connection: PostgresConnection
        do {
            connection = try await connect()
        } catch {
            throw PostgresStartError(PostgresProblem.explain(error, at: location))
        }
        do {
            let applied = try await PostgresMigrations.apply(on: connection, logger: logger)
            try await connection.close()
            return applied
        } catch let error as PSQLError {
            try? await connection.close()
            throw PostgresStartError(PostgresProblem.explain(error, at: location))
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Whether a connection of its own can be made now (the pool may be only busy).
    @Sendable func isReachable() async -> Bool {
        guard let connection = try? await connect() else { return false }
        try? await connection.close()
        return true
    }

    /// One connection outside the pool.
    func connect() async throws -> PostgresConnection {
        let tls: PostgresConnection.Configuration.TLS =
            switch location.tls {
            case .disable: .disable
            case .require, .verifyFull: .require(try NIOSSLContext(configuration: Self.tlsConfiguration(location.tls)))
            }
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: password, database: location.database, tls: tls)
        configuration.options.connectTimeout = TimeAmount(Self.connectTimeout)
        configuration.options.additionalStartupParameters = startupParameters
        return try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
    }
}

/// Why the database cannot be used at start-up, in words for the operator.
public struct PostgresStartError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
