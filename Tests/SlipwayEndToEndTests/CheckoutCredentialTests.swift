import Foundation
import SlipwayTesting
import Testing

/// Private repositories over HTTPS-style smart HTTP with a token: git's real client
/// against `git http-backend` behind a server that demands Basic auth (it stands in for
/// GitHub's git endpoint; it is not GitHub).
@Suite struct CheckoutCredentialTests {
    func withPrivateRepository(token: String?, _ body: (DaemonHarness, GitFixture, GitHTTPServer) async throws -> Void) async throws {
        let repository = try await blocking { try GitFixture(label: "private", files: ["README.md": "private model app\n"]) }
        let server = try GitHTTPServer(root: repository.directory)
        defer {
            server.stop()
            repository.remove()
        }
        try await server.waitUntilListening()
        var environment = TestSecrets.environment
        environment["TEST_GIT_TOKEN"] = token ?? server.token
        let daemon = try DaemonHarness(label: "private-repo", environment: environment) { port, state in
            testConfig(
                port: port, stateDirectory: state,
                test: ["sh", "-c", "test -f README.md && cat .git/config"],
                cloneURL: "http://127.0.0.1:\(server.port)/origin.git",
                appRepositoryExtra: "    clone_auth: {token: env:TEST_GIT_TOKEN}\n")
        }
        try await daemon.run { try await body($0, repository, server) }
    }

    @Test func aTokenClonesAPrivateRepositoryAndIsWrittenNowhere() async throws {
        try await withPrivateRepository(token: nil) { daemon, repository, server in
            let reply = try await daemon.deliver(event: "push", payload: pushPayload(sha: repository.head), secret: TestSecrets.repository)
            let id = try #require(daemon.buildID(of: reply))
            let build = try await daemon.waitForEnd(of: id, timeout: .seconds(60))
            #expect(build.state == .success, "\(build.reason ?? "")")
            #expect(server.requests.contains { $0.hasPrefix("Basic ") }, "git sent the credentials: \(server.requests)")

            let basic = Data("\(server.username):\(server.token)".utf8).base64EncodedString()
            let state = URL(fileURLWithPath: daemon.stateDirectory)
            let places = [
                state.appendingPathComponent("logs/\(id).log").path,
                state.appendingPathComponent("workspaces/\(id)/src/.git/config").path,
                state.appendingPathComponent("mirrors/acme_app.git/config").path,
                daemon.stderrPath,
            ]
            for path in places {
                let text = try String(contentsOfFile: path, encoding: .utf8)
                #expect(!text.contains(server.token), "token in \(path)")
                #expect(!text.contains(basic), "encoded credentials in \(path)")
            }
            let log = try String(contentsOfFile: places[0], encoding: .utf8)
            #expect(!log.contains("extraHeader"), "the credential header reached the log")
        }
    }

    @Test func aWrongTokenEndsInErrorNamingTheRepositoryNotTheToken() async throws {
        let wrong = "ghs_wrong_" + UUID().uuidString
        try await withPrivateRepository(token: wrong) { daemon, repository, server in
            let reply = try await daemon.deliver(event: "push", payload: pushPayload(sha: repository.head), secret: TestSecrets.repository)
            let build = try await daemon.waitForEnd(of: try #require(daemon.buildID(of: reply)), timeout: .seconds(60))
            #expect(build.state == .error)
            #expect((build.reason ?? "").contains("127.0.0.1:\(server.port)/origin.git"), "\(build.reason ?? "")")
            #expect(!(build.reason ?? "").contains(wrong))
            let log = try String(contentsOfFile: "\(daemon.stateDirectory)/logs/\(build.id).log", encoding: .utf8)
            #expect(!log.contains(wrong))
        }
    }
}
