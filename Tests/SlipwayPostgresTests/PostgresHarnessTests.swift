import Foundation
import SlipwayTesting
import Testing

/// The PostgreSQL test server itself (issue 18's tests stand on it): made, started on its
/// own port, reachable over its socket, stopped and removed.
@Suite struct PostgresHarnessTests {
    @Test func aClusterOfTheTestsOwnStartsAnswersAndStops() async throws {
        let server = try await PostgresHarness(label: "harness")
        defer { server.remove() }
        try await server.start()
        #expect(try await server.psql("SHOW server_version").hasPrefix("15."))
        #expect(try await server.psql("SHOW port") == "\(server.port)")
        try await server.createRoleAndDatabase(role: "slipway", password: "pw-\(UUID().uuidString)", database: "slipway")
        #expect(try await server.psql("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'slipway'") == "slipway")
        let pid = try #require(server.processID)
        server.stop()
        #expect(kill(pid, 0) != 0, "the server is still running after stop()")
    }
}
