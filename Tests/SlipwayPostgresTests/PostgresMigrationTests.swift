import Foundation
import Logging
import SlipwayCore
import SlipwayTesting
import Testing

@testable import SlipwayPostgres

/// Issue 18: "three replicas started at once on an empty database: one schema", on a real
/// PostgreSQL 15 server of the test's own.
@Suite struct PostgresMigrationTests {
    @Test func threeReplicasStartingAtOnceMakeOneSchema() async throws {
        try await withServer("migrate") { server, location, password in
            let replicas = (0..<3).map { _ in PostgresDatabase(location: location, password: password, logger: Self.logger) }
            let applied = try await withThrowingTaskGroup(of: [Int].self) { starts in
                for replica in replicas { starts.addTask { try await replica.migrate() } }
                return try await starts.reduce(into: []) { $0.append($1) }
            }
            // One replica applied the whole schema; the others found it done.
            #expect(applied.sorted { $0.count > $1.count } == [PostgresMigrations.all.map(\.version), [], []])
            #expect(
                try await server.psql("SELECT count(*) FROM schema_migration", database: "slipway") == "\(PostgresMigrations.all.count)")
            let tables = try await server.psql(
                "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'", database: "slipway")
            #expect(
                tables
                    == "branch_listing,build,build_log,build_step,delivery,deploy_schedule,deployment,readiness,schema_migration,singleton_lease,status_outbox"
            )
        }
    }

    @Test func aSchemaNewerThanThisVersionIsRefusedByName() async throws {
        try await withServer("newer") { server, location, password in
            let database = PostgresDatabase(location: location, password: password, logger: Self.logger)
            try await database.migrate()
            #expect(try await database.migrate() == [], "migrated twice")
            // The pool the store uses, beside the start-up connection.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await database.run() }
                let rows = try await database.client.query("SELECT count(*) FROM build", logger: Self.logger)
                for try await count in rows.decode(Int.self) { #expect(count == 0) }
                group.cancelAll()
            }
            try await server.psql("INSERT INTO schema_migration (version, name) VALUES (999, 'from the future')", database: "slipway")
            await #expect(throws: PostgresMigrations.Problem.self) { try await database.migrate() }
        }
    }

    @Test func aWrongPasswordFailsWithoutShowingIt() async throws {
        try await withServer("password") { _, location, _ in
            let database = PostgresDatabase(location: location, password: "not-the-password-42", logger: Self.logger)
            let started = ContinuousClock.now
            do {
                try await database.migrate()
                Issue.record("migrated with a wrong password")
            } catch {
                #expect(!String(reflecting: error).contains("not-the-password-42"))
                #expect(
                    "\(error)".contains("password authentication failed for user \"slipway\"") && "\(error)".contains("28P01")
                        && "\(error)".contains("127.0.0.1:\(location.port)"), "\(error)")
            }
            #expect(ContinuousClock.now - started < .seconds(10), "a refused login must fail start-up at once")
        }
    }

    @Test func aMissingDatabaseAndAnUnreachableServerAreNamed() async throws {
        try await withServer("missing") { _, location, password in
            var missing = location
            missing.database = "no_such_db"
            do {
                try await PostgresDatabase(location: missing, password: password, logger: Self.logger).migrate()
                Issue.record("migrated a database that does not exist")
            } catch {
                #expect("\(error)".contains("database \"no_such_db\" does not exist"), "\(error)")
            }
            var unreachable = location
            unreachable.port = freeLoopbackPort()
            do {
                try await PostgresDatabase(location: unreachable, password: password, logger: Self.logger).migrate()
                Issue.record("migrated on a port nothing listens on")
            } catch {
                #expect("\(error)".contains("cannot connect to PostgreSQL at 127.0.0.1:\(unreachable.port)"), "\(error)")
            }
        }
    }

    // MARK: - A server of the test's own

    static let logger: Logger = {
        var logger = Logger(label: "postgres-test")
        logger.logLevel = .warning
        return logger
    }()

    func withServer(_ label: String, _ body: (PostgresHarness, PostgresLocation, String) async throws -> Void) async throws {
        let server = try await PostgresHarness(label: label)
        defer { server.remove() }
        try await server.start()
        let password = "pw-" + UUID().uuidString
        try await server.createRoleAndDatabase(role: "slipway", password: password, database: "slipway")
        let location = PostgresLocation(user: "slipway", host: "127.0.0.1", port: server.port, database: "slipway", tls: .disable)
        try await body(server, location, password)
    }
}
