import SlipwayCore

/// Durable state of deliveries and builds. The queue, the webhook route and the API talk
/// to this protocol only, so SQLite (the embedded default) and PostgreSQL (several
/// replicas) are interchangeable.
///
/// Every method is one transaction. Each state change goes through
/// `BuildState.applying(_:)`, so a store cannot write a transition the state machine forbids.
public protocol BuildStore: Sendable {
    /// Stores a verified delivery and, when `build` is given, its build, atomically. A
    /// delivery id seen before gives `.duplicate` (a unique key decides, not a prior read).
    func recordDelivery(_ delivery: DeliveryRecord, build: BuildRequest?, supersedeOlder: Bool) async throws -> DeliveryOutcome
    /// Stores a build not tied to a delivery (rebuild, model change, schedule).
    func enqueue(_ request: BuildRequest, supersedeOlder: Bool) async throws -> Build
    /// Marks up to `freeWorkers` runnable builds `running` (QueuePolicy) and returns them.
    /// Builds of `heldLanes` do not start, as if those lanes were busy (LaneSettling).
    func claimRunnable(freeWorkers: Int, heldLanes: Set<String>) async throws -> [Build]
    /// Applies `event` to a build; nil when the build does not exist. Throws
    /// `InvalidTransition` when the state machine forbids it.
    @discardableResult
    func transition(_ id: Int64, _ event: BuildEvent, reason: String?) async throws -> Build?
    /// Start-up: builds left `running` by a crash go back to `queued` once, then `error`.
    func recoverInterrupted() async throws -> [Build]
    func build(id: Int64) async throws -> Build?
    func builds(_ filter: BuildFilter) async throws -> [Build]
    func delivery(id: String) async throws -> DeliveryRecord?
    func recordStepStart(buildID: Int64, attempt: Int, name: String) async throws
    func recordStepEnd(buildID: Int64, attempt: Int, name: String, outcome: StepOutcome) async throws
    func steps(buildID: Int64) async throws -> [StepRecord]
    /// Commit statuses not yet delivered nor closed, oldest first (the outbox is written
    /// in the same transaction as each state change, so a restart loses none).
    func openStatuses(limit: Int) async throws -> [StatusOutboxEntry]
    func closeStatus(id: Int64, _ outcome: StatusOutboxOutcome) async throws
    /// Closes many entries with one reason, in one transaction.
    func closeStatuses(ids: [Int64], reason: String) async throws
    /// Deletes delivered or closed entries created before `time`; returns how many.
    func pruneStatuses(doneBefore time: Double) async throws -> Int
    func recordImage(buildID: Int64, _ image: ImageProvenance) async throws
    func recordModel(buildID: Int64, _ model: ModelProvenance) async throws
    /// How many builds are in each state (states with none are absent), for /metrics.
    func countByState() async throws -> [BuildState: Int]
    /// /readyz: throws unless the store can be written to now (a one-row write).
    func ping() async throws
    /// Why writes cannot be kept now (full disk, database file replaced), or nil. Cheap:
    /// known from the writes made, no round trip; deliveries are refused (503) meanwhile.
    var writeProblem: String? { get }
}

public struct DeliveryRecord: Sendable, Equatable {
    public var id: String
    public var event: String
    public var repository: String?
    public var receivedAt: Double
    /// "queued", "ignored: REASON", "pong".
    public var result: String
    public var buildID: Int64?

    public init(id: String, event: String, repository: String?, receivedAt: Double, result: String, buildID: Int64? = nil) {
        self.id = id
        self.event = event
        self.repository = repository
        self.receivedAt = receivedAt
        self.result = result
        self.buildID = buildID
    }
}

public enum DeliveryOutcome: Sendable, Equatable {
    case stored(build: Build?, superseded: [Int64])
    case duplicate(buildID: Int64?)
}

public struct BuildFilter: Sendable, Equatable {
    public var repository: String?
    public var state: BuildState?
    public var limit: Int
    /// Only builds with an id below this (pagination, newest first).
    public var before: Int64?

    public init(repository: String? = nil, state: BuildState? = nil, limit: Int = 50, before: Int64? = nil) {
        self.repository = repository
        self.state = state
        self.limit = limit
        self.before = before
    }
}

public enum StepOutcome: Sendable, Equatable {
    case success
    case failure(exitCode: Int32?, detail: String)
    case error(detail: String)
    case canceled
    case skipped(detail: String)

    public var label: String {
        switch self {
        case .success: "success"
        case .failure: "failure"
        case .error: "error"
        case .canceled: "canceled"
        case .skipped: "skipped"
        }
    }
}

public struct StepRecord: Sendable, Equatable {
    public var buildID: Int64
    public var attempt: Int
    public var name: String
    /// running, success, failure, error, canceled, skipped.
    public var state: String
    public var startedAt: Double
    public var finishedAt: Double?
    public var exitCode: Int32?
    public var detail: String?
}

public enum StoreError: Error, CustomStringConvertible, Sendable {
    case cannotOpen(path: String, reason: String)
    case unsupported(String)
    case notWritable(String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot open the database at \(path): \(reason)"
        case .unsupported(let what): what
        case .notWritable(let why): why
        }
    }
}

/// One commit status waiting to be posted to GitHub.
public struct StatusOutboxEntry: Sendable, Equatable {
    public var id: Int64
    public var buildID: Int64
    public var repository: String
    public var sha: String
    public var status: CommitStatus
    public var attempts: Int
    public var nextAttemptAt: Double
}

public enum StatusOutboxOutcome: Sendable, Equatable {
    case delivered
    case retry(at: Double)
    /// Given up (4xx other than rate limiting) or not sent (a newer status superseded it).
    case closed(reason: String)
}

extension BuildStore {
    public func claimRunnable(freeWorkers: Int) async throws -> [Build] {
        try await claimRunnable(freeWorkers: freeWorkers, heldLanes: [])
    }
}
