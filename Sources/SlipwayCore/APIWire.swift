/// The operator API's JSON shapes (SPEC "Operator API"), shared by the daemon that writes
/// them and the `slipway` CLI that reads them. Times are Unix seconds.

/// `GET /api/v1/builds`: newest first; `next_before` is the `before=` of the next page.
public struct BuildList: Codable, Sendable {
    public let builds: [BuildJSON]
    public let nextBefore: Int64?

    public init(builds: [BuildJSON], nextBefore: Int64?) {
        self.builds = builds
        self.nextBefore = nextBefore
    }

    enum CodingKeys: String, CodingKey { case builds, nextBefore = "next_before" }
}

/// A build as the API shows it; `steps` only in the detail.
public struct BuildJSON: Codable, Sendable {
    public struct Step: Codable, Sendable {
        public let name: String, attempt: Int, state: String, startedAt: Double, finishedAt: Double?, exitCode: Int32?, detail: String?

        public init(name: String, attempt: Int, state: String, startedAt: Double, finishedAt: Double?, exitCode: Int32?, detail: String?) {
            self.name = name; self.attempt = attempt; self.state = state; self.startedAt = startedAt
            self.finishedAt = finishedAt; self.exitCode = exitCode; self.detail = detail
        }

        enum CodingKeys: String, CodingKey {
            case name, attempt, state, detail
            case startedAt = "started_at", finishedAt = "finished_at", exitCode = "exit_code"
        }
    }

    public let id: Int64, repository: String, ref: String, sha: String, trigger: String, state: String, reason: String?
    public let deliveryID: String?, createdAt: Double, startedAt: Double?, finishedAt: Double?, attempts: Int
    public let image: ImageProvenance?, model: ModelProvenance?, steps: [Step]?

    public init(
        id: Int64, repository: String, ref: String, sha: String, trigger: String, state: String, reason: String?,
        deliveryID: String?, createdAt: Double, startedAt: Double?, finishedAt: Double?, attempts: Int,
        image: ImageProvenance?, model: ModelProvenance?, steps: [Step]?
    ) {
        self.id = id; self.repository = repository; self.ref = ref; self.sha = sha; self.trigger = trigger; self.state = state
        self.reason = reason; self.deliveryID = deliveryID; self.createdAt = createdAt; self.startedAt = startedAt
        self.finishedAt = finishedAt; self.attempts = attempts; self.image = image; self.model = model; self.steps = steps
    }

    enum CodingKeys: String, CodingKey {
        case id, repository, ref, sha, trigger, state, reason, attempts, image, model, steps
        case deliveryID = "delivery_id", createdAt = "created_at", startedAt = "started_at", finishedAt = "finished_at"
    }
}

/// `{"error": "reason"}`, the body of every 4xx/5xx the API gives.
public struct APIErrorBody: Codable, Sendable {
    public let error: String
}
