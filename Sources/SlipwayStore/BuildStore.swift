import SlipwayCore

/// Durable state of deliveries and builds, as the parts of the daemon use it. Each group
/// below is what one kind of caller needs, and each caller is given only its group(s):
///
/// | group | caller |
/// |---|---|
/// | `BuildIntakeStore` | `BuildIntake`, the one door through which builds are asked for |
/// | `BuildLeaseStore` | `BuildQueue` and `BuildRunner`: claiming, state changes, crash recovery |
/// | `BuildRecordStore` | the steps of a running build: step records, image and model provenance |
/// | `StatusOutboxStore` | `CommitStatusPoster` |
/// | `BuildQueryStore` | the operator API, the pages, `/metrics`, log following |
/// | `StoreHealth` | `/readyz` and the routes that must not accept what cannot be kept |
///
/// Written for several implementations: SQLite (the embedded default, one process) and
/// PostgreSQL (several replicas). What every implementation must keep:
/// - every method is one transaction; what a method returned is durable;
/// - the writes of `BuildLeaseStore` and `BuildRecordStore` are carried to their end even
///   when the calling task is cancelled (a canceled build still records how it ended);
///   `recordDelivery` of a cancelled caller is either committed and returned, or rolled
///   back whole and thrown, never committed and thrown;
/// - each state change goes through `Build.applying(_:reason:at:)` (and so
///   `BuildState.applying(_:)`), so no store writes a transition the state machine
///   forbids, and writes the build's commit status to the outbox in the same transaction;
/// - every claim gives the build a larger `fence`; a write for an attempt names the fence
///   it was claimed under and is refused (`StaleAttempt`), writing nothing, once the build
///   has been claimed again, checked atomically with the write;
/// - a delivery id is stored once, and one lane's builds are queued, superseded and
///   claimed one transaction at a time, however many processes share the store;
/// - a stored value that cannot be read back (a state no version writes, a malformed
///   commit id) is an error naming the table, row and column (`StoredValueError`), never
///   replaced by a default.
public typealias BuildStore = BuildIntakeStore & BuildLeaseStore & BuildRecordStore & StatusOutboxStore & BuildQueryStore & StoreHealth

/// Storing what asks for builds.
public protocol BuildIntakeStore: Sendable {
    /// Stores a verified delivery and, when `build` is given, its build, atomically. A
    /// delivery id seen before gives `.duplicate` (a unique key decides, not a prior read).
    /// A push whose head `reconcile` built already gives `.builtByReconcile`, no build
    /// (read under the lane's lock, as `reconcileHead` writes).
    /// With `supersedeOlder`, the new build supersedes the queued builds of its lane
    /// (`QueuePolicy.superseded`) in the same transaction.
    func recordDelivery(_ delivery: DeliveryRecord, build: BuildRequest?, supersedeOlder: Bool) async throws -> DeliveryOutcome
    /// The same, for a caller outside Swift concurrency (a connection's event loop, which
    /// must not wait): `completion` is called once, on any thread, with what the other
    /// would have returned or thrown.
    func recordDelivery(
        _ delivery: DeliveryRecord, build: BuildRequest?, supersedeOlder: Bool,
        completion: @escaping @Sendable (Result<DeliveryOutcome, any Error>) -> Void)
    /// Stores a build not tied to a delivery (rebuild, model change, schedule).
    func enqueue(_ request: BuildRequest, supersedeOlder: Bool) async throws -> Build
    /// `reconcile`: one branch head a listing found (`request`, trigger `reconcile`). In one
    /// transaction, under the lane's lock (so a push delivery of the same head, stored
    /// meanwhile, is seen): reads what is known of the head (`ListedHeadFacts`), remembers
    /// it as the branch's listed head, and queues the build when `ReconcileDecision` says so.
    /// With `queue` false, a head to build is only reported (`.decided(.build, …)`) and
    /// nothing is written for it: the caller asks again after a grace period, so that a
    /// delivery on its way is not beaten by the listing.
    func reconcileHead(_ request: BuildRequest, supersedeOlder: Bool, queue: Bool) async throws -> ReconcileOutcome
}

extension BuildIntakeStore {
    /// A store whose writes are only async answers through a task.
    public func recordDelivery(
        _ delivery: DeliveryRecord, build: BuildRequest?, supersedeOlder: Bool,
        completion: @escaping @Sendable (Result<DeliveryOutcome, any Error>) -> Void
    ) {
        Task {
            do {
                completion(.success(try await recordDelivery(delivery, build: build, supersedeOlder: supersedeOlder)))
            } catch {
                completion(.failure(error))
            }
        }
    }
}

/// Running builds: who runs what, and every state change.
public protocol BuildLeaseStore: Sendable {
    /// Marks up to `freeWorkers` runnable builds `running` (QueuePolicy) and returns them.
    /// Builds of `heldLanes` do not start, as if those lanes were busy (LaneSettling).
    func claimRunnable(freeWorkers: Int, heldLanes: Set<String>) async throws -> [Build]
    /// Applies `event` to a build; nil when the build does not exist. Throws
    /// `InvalidTransition` when the state machine forbids it. `statusSummary` is what the
    /// commit status says instead of `reason` (a failing test: "tests failed (exit 3)").
    /// `fence`: the write is for the attempt claimed under it (the runner's own end of
    /// the build), and throws `StaleAttempt`, changing nothing, when the build has been
    /// claimed again since; nil for a write not made by the attempt (an operator's cancel).
    @discardableResult
    func transition(_ id: Int64, _ event: BuildEvent, reason: String?, statusSummary: String?, fence: Int64?) async throws -> Build?
    /// Start-up: builds left `running` by a crash go back to `queued` once, then `error`.
    func recoverInterrupted() async throws -> [Build]
}

/// A store shared by several replicas (PostgreSQL): a running build is held under a
/// lease that its replica renews; another replica takes the build over once the lease
/// has run out (`BuildLeaseStore.recoverInterrupted`).
public protocol BuildLeaseRenewal: Sendable {
    /// How long a claim holds without renewal.
    var lease: Duration { get }
    /// Extends the leases of `running` (the builds this replica runs) and of its
    /// deployments; returns those it holds no more, whose processes must stop, each with
    /// its state now (`canceled`: an operator canceled it through another replica;
    /// `running` or `queued`: another replica took it over).
    func renewLeases(of running: Set<Int64>) async throws -> [Int64: BuildState]
}

/// What a running build records as it goes. Each write names the fence its attempt was
/// claimed under (`Build.fence`) and throws `StaleAttempt`, writing nothing, once the
/// build has been claimed again (its replica lost it: paused or cut off past its lease).
public protocol BuildRecordStore: Sendable {
    func recordStepStart(buildID: Int64, attempt: Int, name: String, fence: Int64) async throws
    func recordStepEnd(buildID: Int64, attempt: Int, name: String, outcome: StepOutcome, fence: Int64) async throws
    func recordImage(buildID: Int64, _ image: ImageProvenance, fence: Int64) async throws
    func recordModel(buildID: Int64, _ model: ModelProvenance, fence: Int64) async throws
    /// The pushed image's signed attestation (a DSSE envelope, JSON).
    func recordProvenance(buildID: Int64, envelope: String, fence: Int64) async throws
}

/// A write for an attempt whose build has been claimed again since (another replica runs
/// it now): refused, nothing written. The attempt's processes must stop.
public struct StaleAttempt: Error, Equatable, CustomStringConvertible {
    public let buildID: Int64
    public let fence: Int64

    public init(buildID: Int64, fence: Int64) {
        self.buildID = buildID
        self.fence = fence
    }

    public var description: String {
        "build #\(buildID) was claimed again since this attempt (fence \(fence)); this replica writes nothing more for it"
    }
}

/// The commit statuses waiting to be posted. The outbox is written in the same
/// transaction as each state change, so a restart loses none.
public protocol StatusOutboxStore: Sendable {
    /// Statuses not yet delivered nor closed, oldest first.
    func openStatuses(limit: Int) async throws -> [StatusOutboxEntry]
    func closeStatus(id: Int64, _ outcome: StatusOutboxOutcome) async throws
    /// Closes many entries with one reason, in one transaction.
    func closeStatuses(ids: [Int64], reason: String) async throws
    /// Deletes delivered or closed entries created before `time`; returns how many.
    func pruneStatuses(doneBefore time: Double) async throws -> Int
    /// Signalled after every transaction that wrote a status into the outbox.
    var outboxWritten: WakeSignal { get }
}

/// Reading what was stored.
public protocol BuildQueryStore: Sendable {
    func build(id: Int64) async throws -> Build?
    func builds(_ filter: BuildFilter) async throws -> [Build]
    /// The newest build of each ref of `repository` (every lane of it), newest first.
    func newestBuildPerRef(repository: String) async throws -> [Build]
    func steps(buildID: Int64) async throws -> [StepRecord]
    /// The build's signed attestation (DSSE envelope JSON), nil when it has none.
    func provenance(buildID: Int64) async throws -> String?
    func delivery(id: String) async throws -> DeliveryRecord?
    /// How many builds are in each state (states with none are absent), for /metrics.
    func countByState() async throws -> [BuildState: Int]
}

/// Whether the store can keep what it is given.
public protocol StoreHealth: Sendable {
    /// /readyz: throws unless the store can be written to now (a one-row write).
    func ping() async throws
    /// Why writes cannot be kept now (full disk, database file replaced), or nil. Cheap:
    /// known from the writes made, no round trip; deliveries are refused (503) meanwhile.
    var writeProblem: String? { get }
}

extension BuildLeaseStore {
    public func claimRunnable(freeWorkers: Int) async throws -> [Build] {
        try await claimRunnable(freeWorkers: freeWorkers, heldLanes: [])
    }

    @discardableResult
    public func transition(_ id: Int64, _ event: BuildEvent, reason: String?) async throws -> Build? {
        try await transition(id, event, reason: reason, statusSummary: nil, fence: nil)
    }
}

public struct DeliveryRecord: Sendable, Equatable {
    public var id: String
    public var event: String
    public var repository: String?
    public var receivedAt: Double
    public var result: DeliveryDisposition
    public var buildID: Int64?
    /// The branch head a push named when its commit asked not to be built (`[skip ci]`):
    /// kept so that `reconcile` does not build it.
    public var skippedHead: AnnouncedHead?

    public init(
        id: String, event: String, repository: String?, receivedAt: Double, result: DeliveryDisposition, buildID: Int64? = nil,
        skippedHead: AnnouncedHead? = nil
    ) {
        self.id = id
        self.event = event
        self.repository = repository
        self.receivedAt = receivedAt
        self.result = result
        self.buildID = buildID
        self.skippedHead = skippedHead
    }
}

/// What was done with a verified delivery, as stored: `queued`, `pong`, `ignored: REASON`.
public enum DeliveryDisposition: Sendable, Equatable, CustomStringConvertible {
    case queued
    case pong
    case ignored(reason: String)

    /// The stored text.
    public var description: String {
        switch self {
        case .queued: "queued"
        case .pong: "pong"
        case .ignored(let reason): "ignored: \(reason)"
        }
    }

    /// A stored text back; nil when no version of Slipway writes it.
    public init?(stored text: String) {
        switch text {
        case "queued": self = .queued
        case "pong": self = .pong
        default:
            guard text.hasPrefix("ignored: ") else { return nil }
            self = .ignored(reason: String(text.dropFirst("ignored: ".count)))
        }
    }
}

public enum DeliveryOutcome: Sendable, Equatable {
    case stored(build: Build?, superseded: [Int64])
    case duplicate(buildID: Int64?)
    /// A push of a head `reconcile` built already (its delivery came late, or was sent
    /// again by hand): stored, naming that build, and not built twice.
    case builtByReconcile(buildID: Int64)

    /// What the delivery row says of a push `reconcile` built already.
    public static func builtByReconcileReason(_ buildID: Int64) -> String { "commit already built by reconcile (build #\(buildID))" }
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

public struct StepRecord: Sendable, Equatable {
    public var buildID: Int64
    public var attempt: Int
    public var name: String
    public var state: StepState
    public var startedAt: Double
    public var finishedAt: Double?
    public var exitCode: Int32?
    public var detail: String?

    package init(
        buildID: Int64, attempt: Int, name: String, state: StepState, startedAt: Double, finishedAt: Double?, exitCode: Int32?,
        detail: String?
    ) {
        self.buildID = buildID
        self.attempt = attempt
        self.name = name
        self.state = state
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.exitCode = exitCode
        self.detail = detail
    }
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
    public var sha: CommitID
    public var status: CommitStatus
    public var attempts: Int
    public var nextAttemptAt: Double

    package init(
        id: Int64, buildID: Int64, repository: String, sha: CommitID, status: CommitStatus, attempts: Int, nextAttemptAt: Double
    ) {
        self.id = id
        self.buildID = buildID
        self.repository = repository
        self.sha = sha
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
    }
}

public enum StatusOutboxOutcome: Sendable, Equatable {
    case delivered
    case retry(at: Double)
    /// Given up (4xx other than rate limiting) or not sent (a newer status superseded it).
    case closed(reason: String)
}

/// A stored value no version of Slipway writes: the row is reported, not read as
/// something else (a corrupt or hand-edited database must not turn a build into another).
public struct StoredValueError: Error, CustomStringConvertible, Sendable {
    public let table: String
    public let row: String
    public let column: String
    public let value: String?

    public init(table: String, row: String, column: String, value: String?) {
        self.table = table
        self.row = row
        self.column = column
        self.value = value
    }

    public var description: String {
        "the database holds an unreadable value: \(table) row \(row), column \(column): "
            + (value.map { "'\($0.prefix(80))'" } ?? "NULL")
    }
}
