/// What starts a build.
public enum BuildTrigger: String, Sendable, Codable, CaseIterable {
    case push, rebuild, model, schedule
    /// A branch head that no delivery announced, found by listing the repository's
    /// branches (`reconcile`): it stands in for the push whose delivery was missed.
    case reconcile
}

/// A request for a build, before it is stored and given an id.
public struct BuildRequest: Sendable, Equatable {
    public let repository: String
    public let ref: String
    public var sha: CommitID
    public var cloneURL: String?
    public var trigger: BuildTrigger
    public var deliveryID: String?

    public init(repository: String, ref: String, sha: CommitID, cloneURL: String?, trigger: BuildTrigger, deliveryID: String?) {
        self.repository = repository
        self.ref = ref
        self.sha = sha
        self.cloneURL = cloneURL
        self.trigger = trigger
        self.deliveryID = deliveryID
        lane = BuildLane.key(repository: repository, ref: ref)
    }

    /// Builds with the same lane run one at a time, in order, and newer pushes supersede
    /// older queued builds of the lane: repository plus ref. Made once: a delivery asks
    /// for it several times.
    public let lane: String
}

public enum BuildLane {
    public static func key(repository: String, ref: String) -> String { "\(repository.lowercased()) \(ref)" }
}

/// A stored build.
public struct Build: Sendable, Equatable, Identifiable {
    public var id: Int64
    public var repository: String
    public var ref: String
    public var sha: CommitID
    public var cloneURL: String?
    public var trigger: BuildTrigger
    public var deliveryID: String?
    public var state: BuildState
    /// Why the build ended as it did (error message, "superseded by #12", ...).
    public var reason: String?
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    /// How many times a worker has started this build (a crash re-queues once).
    public var attempts: Int
    /// The claim the running attempt was made under: grows with every claim, never goes
    /// back (a checkpoint gives an attempt back, not its fence). A replica writes for an
    /// attempt only while the build's fence is still the one it claimed it with.
    public var fence: Int64 = 0
    /// What the image and model steps produced (nil until they ran).
    public var image: ImageProvenance?
    public var model: ModelProvenance?

    public init(
        id: Int64, repository: String, ref: String, sha: CommitID, cloneURL: String?, trigger: BuildTrigger,
        deliveryID: String?, state: BuildState, reason: String?, createdAt: Double, startedAt: Double?,
        finishedAt: Double?, attempts: Int
    ) {
        self.id = id
        self.repository = repository
        self.ref = ref
        self.sha = sha
        self.cloneURL = cloneURL
        self.trigger = trigger
        self.deliveryID = deliveryID
        self.state = state
        self.reason = reason
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.attempts = attempts
    }

    public var lane: String { BuildLane.key(repository: repository, ref: ref) }
    public var branch: String? { GitRefName.branch(of: ref) }
}

/// The image a build produced: its name, the tags pushed and the registry's digest.
public struct ImageProvenance: Sendable, Equatable, Codable {
    public var name: String
    public var tags: [String]
    /// `sha256:...` as the registry reports it; nil until pushed.
    public var digest: String?
    /// What the push sent: the sizes of the blobs the registry did not have yet
    /// (`PushAccounting`); nil until pushed, or when the registry could not be asked.
    public var uploadedBytes: Int64?

    public init(name: String, tags: [String], digest: String?, uploadedBytes: Int64? = nil) {
        self.name = name
        self.tags = tags
        self.digest = digest
        self.uploadedBytes = uploadedBytes
    }

    enum CodingKeys: String, CodingKey {
        case name, tags, digest
        case uploadedBytes = "uploaded_bytes"
    }
}

/// The model a build baked in: the resolved object, its version (ETag / version id) and digest.
public struct ModelProvenance: Sendable, Equatable, Codable {
    public var source: String
    public var version: String?
    public var sha256: String

    public init(source: String, version: String?, sha256: String) {
        self.source = source
        self.version = version
        self.sha256 = sha256
    }
}
