import Foundation

/// The `state` of a GitHub commit status.
public enum StatusState: String, Sendable, Codable, CaseIterable {
    case pending, success, failure, error
}

/// What GitHub shows on the commit for a build (SPEC "Builds": commit status). Pure.
public struct CommitStatus: Sendable, Equatable, Codable {
    public var state: StatusState
    /// At most 140 characters, as GitHub allows.
    public var description: String

    public static let maxDescription = 140

    public init(state: StatusState, description: String) {
        self.state = state
        self.description = Self.clip(description)
    }

    /// The status for a build as it is now: `pending` while queued or running, the end
    /// state after; canceled and superseded report `error` saying why. `failureSummary`
    /// (`StepFailure.summary`) replaces the build's reason for a failure.
    public static func of(_ build: Build, failureSummary: String? = nil) -> CommitStatus {
        let took = duration(build)
        switch build.state {
        case .queued:
            return CommitStatus(state: .pending, description: build.attempts > 0 ? "queued again after an interruption" : "queued")
        case .running:
            return CommitStatus(state: .pending, description: "running (attempt \(build.attempts))")
        case .success:
            if let image = build.image, let digest = image.digest {
                var text = "pushed \(shortName(image.name))@\(shortDigest(digest))"
                if let model = build.model { text += " with model \(shortModel(model))" }
                return CommitStatus(state: .success, description: text + (took.map { " in \($0)" } ?? ""))
            }
            return CommitStatus(state: .success, description: "build passed" + (took.map { " in \($0)" } ?? ""))
        case .failure:
            return CommitStatus(
                state: .failure, description: (failureSummary ?? build.reason ?? "build failed") + (took.map { " after \($0)" } ?? ""))
        case .error:
            return CommitStatus(state: .error, description: "error: " + (build.reason ?? "infrastructure failure"))
        case .canceled:
            return CommitStatus(state: .error, description: build.reason.map { "\($0)" } ?? "canceled")
        case .superseded:
            return CommitStatus(state: .error, description: build.reason ?? "superseded by a newer push")
        }
    }

    static func duration(_ build: Build) -> String? {
        guard let start = build.startedAt, let end = build.finishedAt, end >= start else { return nil }
        return DurationText.elapsed(seconds: end - start)
    }

    static func shortName(_ image: String) -> String { image.split(separator: "/").last.map(String.init) ?? image }
    static func shortDigest(_ digest: String) -> String { String(digest.prefix(7 + 12)) + "…" }
    static func shortModel(_ model: ModelProvenance) -> String {
        let name = model.source.split(separator: "/").last.map(String.init) ?? model.source
        guard let version = model.version else { return name }
        let short = version.trimmingCharacters(in: CharacterSet(charactersIn: "\"")).prefix(16)
        return "\(name) \(short)"
    }

    /// At most 140 characters (GitHub refuses longer), cut with an ellipsis.
    static func clip(_ text: String) -> String {
        text.count <= maxDescription ? text : String(text.prefix(maxDescription - 1)) + "…"
    }
}
