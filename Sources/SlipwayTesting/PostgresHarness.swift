import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL 15 server of the test's own (Debian's `postgresql-15`): a cluster made by
/// `initdb` in a temporary directory, the server on a free loopback port, stopped and
/// removed by the test. PostgreSQL refuses to run as root, so as root the cluster belongs
/// to the `postgres` user and its programs run as that user (`setpriv`).
///
/// Connections over TCP need a password (scram-sha-256); the test's own administration
/// goes through the cluster's Unix socket (`psql`), trusted. Every program it runs and
/// waits for runs through `blocking`, off Swift's cooperative threads (run on them, a
/// dozen tests' initdb and psql starved the code under test beside them).
public final class PostgresHarness: @unchecked Sendable {   // `process` under `lock`
    public static let binaries = "/usr/lib/postgresql/15/bin"

    public let directory: URL
    public private(set) var port: Int
    /// The administrator, for `psql` over the socket.
    public let administrator = "slipway_admin"
    private let lock = NSLock()
    private var process: ChildProcess?
    /// Addresses the server listens on besides 127.0.0.1 (set before `start()`).
    public var extraListenAddresses: [String] = []

    private var data: URL { directory.appendingPathComponent("data") }
    private var socketDirectory: URL { directory.appendingPathComponent("socket") }
    public var logFile: URL { directory.appendingPathComponent("postgres.log") }
    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Makes the cluster (initdb); `start()` runs it.
    public init(label: String) async throws {
        directory = try TestPaths.temporaryDirectory("postgres-\(label)")
        port = freeLoopbackPort()
        do {
            guard FileManager.default.isExecutableFile(atPath: Self.binaries + "/initdb") else {
                throw HarnessError("PostgreSQL 15 is not installed (\(Self.binaries)); scripts/test installs postgresql-15")
            }
            // The server's user must reach its directories: the test's directory is opened
            // to others (it holds nothing secret), the data directory is that user's.
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
            for child in [data, socketDirectory] { try FileManager.default.createDirectory(at: child, withIntermediateDirectories: true) }
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
            try await Self.giveToServerUser(data.path, socketDirectory.path, logFile.path)
            let initdb = Self.asServerUser(
                Self.binaries + "/initdb",
                [
                    "-D", data.path, "-U", administrator, "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8",
                    "--locale=C", "--no-sync",
                ])
            let made = try await blocking { try runProgram("/usr/bin/env", initdb) }
            guard made.status == 0 else { throw HarnessError("initdb failed: \(made.output)") }
        } catch {
            remove()
            throw error
        }
    }

    /// Starts the server and waits until it answers. Another test may take the free port
    /// first: then a new port is taken, once or twice.
    public func start(retriesLeft: Int = 2) async throws {
        let process = try launchServer(
            "/usr/bin/env",
            Self.asServerUser(
                Self.binaries + "/postgres",
                [
                    "-D", data.path, "-p", "\(port)", "-k", socketDirectory.path,
                    "-c", "listen_addresses=" + (["127.0.0.1"] + extraListenAddresses).joined(separator: ","),
                    "-c", "max_connections=200", "-c", "shared_buffers=32MB", "-c", "log_min_messages=warning",
                ]),
            log: logFile)
        lock.withLock { self.process = process }
        let deadline = ContinuousClock.now + .seconds(30)
        let isReady = [Self.binaries + "/pg_isready", "-h", socketDirectory.path, "-p", "\(port)", "-q"]
        while ContinuousClock.now < deadline {
            if process.isRunning, try await blocking({ try runProgram(isReady[0], Array(isReady.dropFirst())).status }) == 0 {
                return
            }
            if !process.isRunning {
                lock.withLock { self.process = nil }
                if log.contains("Address already in use"), retriesLeft > 0 {
                    port = freeLoopbackPort()
                    return try await start(retriesLeft: retriesLeft - 1)
                }
                throw HarnessError("postgres exited at start: \(log)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("postgres did not start in 30 s: \(log)")
    }

    /// Runs `sql` as the administrator over the socket; its output, or a thrown error
    /// with psql's message.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") async throws -> String {
        let arguments = [
            "-h", socketDirectory.path, "-p", "\(port)", "-U", administrator, "-d", database, "-X", "-q", "-A", "-t", "-v",
            "ON_ERROR_STOP=1", "-c", sql,
        ]
        let result = try await blocking { try runProgram(Self.binaries + "/psql", arguments) }
        guard result.status == 0 else { throw HarnessError("psql failed: \(result.output)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A login role with a password and a database it owns: what an operator sets up for
    /// Slipway (README, "Running several replicas").
    public func createRoleAndDatabase(role: String, password: String, database: String) async throws {
        try await psql("CREATE ROLE \(role) LOGIN PASSWORD '\(password)'")
        try await psql("CREATE DATABASE \(database) OWNER \(role)")
    }

    /// Lets clients from `network` (CIDR) in with a password, as from 127.0.0.1; before
    /// `start()`.
    public func allowPasswordLogins(from network: String) throws {
        let rules = data.appendingPathComponent("pg_hba.conf")
        let handle = try FileHandle(forWritingTo: rules)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("host all all \(network) scram-sha-256\n".utf8))
    }

    /// The server's process id, for a test that pauses or kills it.
    public var processID: Int32? { lock.withLock { process.map(\.processIdentifier) } }

    /// Fast shutdown (SIGINT: open transactions are rolled back), then SIGKILL after 10 s.
    public func stop() {
        guard
            let process = lock.withLock({ () -> ChildProcess? in
                defer { self.process = nil }
                return self.process
            })
        else { return }
        process.stop(with: SIGINT, grace: 10)
    }

    public func remove() {
        stop()
        TestPaths.removeTemporaryDirectory(directory)
    }

    deinit { stop() }

    private static var isRoot: Bool { geteuid() == 0 }

    /// `env` arguments that run `program` as the server's user (as root), or as is.
    private static func asServerUser(_ program: String, _ arguments: [String]) -> [String] {
        guard Self.isRoot else { return [program] + arguments }
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", program] + arguments
    }

    private static func giveToServerUser(_ paths: String...) async throws {
        guard isRoot else { return }
        let result = try await blocking { try runProgram("/bin/chown", ["postgres:postgres"] + paths) }
        guard result.status == 0 else { throw HarnessError("chown \(paths): \(result.output)") }
    }
}
