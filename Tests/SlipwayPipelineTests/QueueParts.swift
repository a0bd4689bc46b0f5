import Foundation
import Logging
import SlipwayCore
import SlipwayPipeline
import SlipwayTesting

@testable import SlipwayStore

/// An in-process build queue on a real SQLite store, with its intake, for the queue's
/// tests: one repository, `acme/app`, whose builds run `steps`.
struct QueueParts {
    let store: SQLiteBuildStore
    let config: LiveConfig
    let queue: BuildQueue
    let intake: BuildIntake

    /// `queueSettings`: the config's `queue:` mapping, e.g. `{workers: 2}`.
    /// `sync`: how the database's log is synced (`SyncGate`); nil: fdatasync.
    init(
        stateDirectory state: String, queueSettings: String, sync: (@Sendable (Int32) -> Int32)? = nil,
        steps: @escaping BuildRunner.StepPlanner
    ) throws {
        let yaml = """
            state_dir: \(state)
            queue: \(queueSettings)
            repositories:
              - name: acme/app
                webhook_secrets: [env:HOOK]
                branches: ["**"]
            """
        let resolved = try ResolvedConfig(
            config: ConfigParser.parse(yaml: yaml), source: DictionarySecretSource(values: ["env:HOOK": "x"]))
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        store = SQLiteBuildStore(database: try SQLiteDatabase(path: state + "/slipway.sqlite", sync: sync))
        config = LiveConfig(resolved)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let runner = BuildRunner(store: store, config: config, toolEnvironment: [:], logger: logger, planSteps: steps)
        queue = BuildQueue(store: store, config: config, runner: runner, logger: logger)
        intake = BuildIntake(store: store, config: config, queue: queue)
    }
}
