import Foundation
import SlipwayTesting
import Testing

/// The PostgreSQL test server itself (issue 18's tests stand on it): made, started on its
/// own port, reachable over its socket, stopped and removed.
@Suite struct PostgresHarnessTests {
    @Test func aClusterOfTheTestsOwnStartsAnswersAndStops() async throws {
        let server = try PostgresHarness(label: "harness")
        defer { server.remove() }
        try await server.start()
        #expect(try server.psql("SHOW server_version").hasPrefix("15."))
        #expect(try server.psql("SHOW port") == "\(server.port)")
        try server.createRoleAndDatabase(role: "slipway", password: "pw-\(UUID().uuidString)", database: "slipway")
        #expect(try server.psql("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'slipway'") == "slipway")
        let pid = try #require(server.processID)
        server.stop()
        #expect(kill(pid, 0) != 0, "the server is still running after stop()")
    }
}
