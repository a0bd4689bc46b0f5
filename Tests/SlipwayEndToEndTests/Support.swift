import Foundation
import SlipwayCore
import SlipwayStore
import SlipwayTesting
import Synchronization

/// Secrets the end-to-end daemons are configured with (values in the environment, as in production).
enum TestSecrets {
    static let repository = "repo-secret-\(UUID().uuidString)"
    static let previous = "repo-secret-previous-\(UUID().uuidString)"
    static let organization = "org-secret-\(UUID().uuidString)"
    static let githubVector = "It's a Secret to Everybody"

    static let environment = [
        "TEST_WEBHOOK_SECRET": repository,
        "TEST_WEBHOOK_SECRET_PREVIOUS": previous,
        "TEST_ORG_SECRET": organization,
        "TEST_VECTOR_SECRET": githubVector,
    ]
}

/// The repository every end-to-end daemon clones (file://), unless a test brings its own.
/// Tests share it, so it is removed only when the test process exits.
enum TestRepository {
    static let shared: GitFixture = {
        do {
            let fixture = try GitFixture(label: "shared", files: ["README.md": "Slipway end-to-end test repository\n"])
            atexit { TestRepository.removeShared() }
            return fixture
        } catch { fatalError("cannot create the shared test repository: \(error)") }
    }()
    static var head: String { shared.head }

    private static func removeShared() { shared.remove() }
}

/// A config for the fixture repositories (Codertocat/Hello-World, Octocoders/Hello-World)
/// plus `acme/app`, which builds every branch. `test` is the argv of the test step;
/// `serverExtra`: more `server:` keys, a `key: value` each. `reconcile` is off unless a
/// test asks for it (a listing at start-up would add builds to tests of other things).
func testConfig(
    port: Int, stateDirectory: String, workers: Int = 2, cancelSuperseded: Bool = true,
    test: [String] = ["sh", "-c", "echo tests ran"], maxBodyBytes: Int = 26_214_400, shutdownGrace: String = "10s",
    cloneURL: String = TestRepository.shared.bareURL, serverExtra: [String] = [], appRepositoryExtra: String = "",
    topLevelExtra: String = "", reconcile: String = "null"
) -> String {
    let argv = "[" + test.map { "'\($0.replacingOccurrences(of: "'", with: "''"))'" }.joined(separator: ", ") + "]"
    return """
        server:
          listen: 127.0.0.1:\(port)
          public_url: http://127.0.0.1:\(port)
          max_body_bytes: \(maxBodyBytes)
        \(serverExtra.map { "  " + $0 }.joined(separator: "\n"))
        state_dir: \(stateDirectory)
        database: sqlite
        log_level: debug
        queue:
          workers: \(workers)
          cancel_superseded: \(cancelSuperseded)
          shutdown_grace: \(shutdownGrace)
        webhook_secrets: [env:TEST_ORG_SECRET]
        reconcile: \(reconcile)
        \(topLevelExtra)
        repositories:
          - name: Codertocat/Hello-World
            webhook_secrets: [env:TEST_WEBHOOK_SECRET, env:TEST_WEBHOOK_SECRET_PREVIOUS]
            clone_url: \(cloneURL)
            test: \(argv)
          - name: Octocoders/Hello-World
            webhook_secrets: [env:TEST_WEBHOOK_SECRET]
            clone_url: \(cloneURL)
            test: \(argv)
          - name: github/vector
            webhook_secrets: [env:TEST_VECTOR_SECRET]
            clone_url: \(cloneURL)
            test: \(argv)
          - name: acme/app
            webhook_secrets: [env:TEST_WEBHOOK_SECRET]
            branches: ["**"]
            clone_url: \(cloneURL)
            test: \(argv)
        \(appRepositoryExtra)

        """
}

/// A daemon of one worker whose builds' test step waits until the file `GO` exists in
/// `gate` (unsandboxed: the gate is outside the workspace); the operator token configured.
func gatedDaemon(
    _ label: String, gate: URL, shutdownGrace: String = "10s", serverExtra: [String] = [],
    topLevelExtra: String = ""
) throws -> DaemonHarness {
    let go = gate.appendingPathComponent("GO").path
    var env = TestSecrets.environment
    env["TEST_OPS_TOKEN"] = OperatorAPITests.token
    return try DaemonHarness(label: label, environment: env) { port, state in
        testConfig(
            port: port, stateDirectory: state, workers: 1, test: ["sh", "-c", "while [ ! -f \(go) ]; do sleep 0.05; done; echo done"],
            shutdownGrace: shutdownGrace, serverExtra: serverExtra,
            topLevelExtra: OperatorAPITests.apiYAML + "\nsandbox: none\n" + topLevelExtra)
    }
}

/// Starts a daemon on `testConfig` and hands it to `body`; always stops it and removes its files.
func withDaemon<T>(
    _ label: String, workers: Int = 2, cancelSuperseded: Bool = true,
    test: [String] = ["sh", "-c", "echo tests ran"], maxBodyBytes: Int = 26_214_400, shutdownGrace: String = "10s",
    _ body: (DaemonHarness) async throws -> T
) async throws -> T {
    let daemon = try DaemonHarness(label: label, environment: TestSecrets.environment) { port, state in
        testConfig(
            port: port, stateDirectory: state, workers: workers, cancelSuperseded: cancelSuperseded,
            test: test, maxBodyBytes: maxBodyBytes, shutdownGrace: shutdownGrace)
    }
    _ = await blocking { TestRepository.shared }
    return try await daemon.run(body)
}

/// A push of `acme/app` as GitHub sends it (the fields Slipway reads, and a few more).
func pushPayload(
    repository: String = "acme/app", branch: String = "main", sha: String = TestRepository.head,
    message: String = "Update model wrapper", deleted: Bool = false
) -> [UInt8] {
    SamplePushPayload.make(repository: repository, ref: branch, sha: sha, message: message, deleted: deleted)
}

extension DaemonHarness {
    func openStore() throws -> SQLiteBuildStore { try SQLiteBuildStore(path: databasePath) }

    /// Polls the database until build `id` is in a terminal state.
    func waitForEnd(of id: Int64, timeout: Duration = .seconds(30)) async throws -> Build {
        let store = try openStore()
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let build = try await store.build(id: id), build.state.isTerminal { return build }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("build \(id) did not end within \(timeout): \(String(describing: try await store.build(id: id)))")
    }

    func buildID(of reply: Reply) -> Int64? {
        (reply.json["build"] as? NSNumber)?.int64Value
    }
}

/// Waits until `condition` holds. The limit is generous: it only bounds how long a failing
/// test takes, and on a loaded 2-core machine running the whole suite a daemon's first
/// build has taken over 10 s to be claimed.
func eventually(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    throw HarnessError("condition not met within \(timeout)")
}

/// A count that concurrent tasks of a test share.
final class SharedCount: Sendable {
    private let count = Atomic<Int>(0)
    /// Adds one; returns the new count.
    func increment() -> Int { count.add(1, ordering: .relaxed).newValue }
    func decrement() { count.subtract(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// `operation`, or a failure once `limit` has passed: a test of something that used to
/// hang must fail, not hang the suite.
func within<T: Sendable>(_ limit: Duration, _ what: String, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw HarnessError("\(what) did not end within \(limit)") }
        return value
    }
}
