/// What to do with a delivery whose signature has been verified: the filters of the
/// SPEC's webhook table, as one pure function.
public enum DeliveryDecision: Sendable, Equatable {
    case pong
    case build(BuildRequest)
    case ignore(String)
    /// A push of a configured branch not built because of its head commit (`[skip ci]`):
    /// stored with the delivery, so that `reconcile` knows the head was announced.
    case skip(String, head: AnnouncedHead)
}

/// A branch head a delivery named: its lane (`BuildLane`) and commit.
public struct AnnouncedHead: Sendable, Equatable {
    public var lane: String
    public var sha: CommitID

    public init(lane: String, sha: CommitID) {
        self.lane = lane
        self.sha = sha
    }
}

public enum DeliveryClassifier {
    /// Classifies a verified delivery (decoding it is the first thing done with it once
    /// its signature holds). Throws `PayloadError` (→ 400) when a push payload cannot be read.
    public static func classify(event: String, deliveryID: String, payload: [UInt8], config: Config) throws(PayloadError)
        -> DeliveryDecision
    {
        switch event {
        case "ping": return .pong
        case "push": break
        default: return .ignore("event '\(event)' is not built")
        }
        let push = try PushEvent.decode(payload)
        guard let repository = config.repository(named: push.repositoryFullName) else {
            return .ignore("repository '\(push.repositoryFullName)' is not configured")
        }
        if push.deleted { return .ignore("ref \(push.ref) was deleted") }
        if let reason = refFilterRejection(push, repository) { return .ignore(reason) }
        if let message = push.headCommitMessage, let marker = skipMarker(in: message) {
            return .skip(
                "head commit message contains \(marker)",
                head: AnnouncedHead(lane: BuildLane.key(repository: repository.name, ref: push.ref), sha: push.after))
        }
        return .build(
            BuildRequest(
                repository: repository.name, ref: push.ref, sha: push.after,
                cloneURL: repository.cloneURL ?? push.cloneURL, trigger: .push, deliveryID: deliveryID))
    }

    /// Nil when the ref is to be built, else why not.
    static func refFilterRejection(_ push: PushEvent, _ repository: RepositoryConfig) -> String? {
        if let branch = push.branch {
            if let patterns = repository.branches {
                return patterns.contains { Glob.matches($0, branch) }
                    ? nil
                    : "branch '\(branch)' matches none of \(patterns)"
            }
            let defaultBranch = push.defaultBranch ?? "main"
            return branch == defaultBranch
                ? nil
                : "branch '\(branch)' is not the default branch '\(defaultBranch)' (set branches: to build others)"
        }
        if let tag = push.tag {
            switch repository.tags {
            case .none: return "tag pushes are not built (set tags: true)"
            case .all: return nil
            case .matching(let patterns):
                return patterns.contains { Glob.matches($0, tag) } ? nil : "tag '\(tag)' matches none of \(patterns)"
            }
        }
        return "ref \(push.ref) is neither a branch nor a tag"
    }

    static let skipMarkers = ["[skip ci]", "[ci skip]", "[no ci]"]

    /// The skip marker in a commit message, if any (ASCII case-insensitive, as GitHub
    /// Actions). The first marker of the list that occurs wins.
    public static func skipMarker(in message: String) -> String? {
        let text = Array(message.utf8)
        func lowered(_ byte: UInt8) -> UInt8 { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte }
        func occurs(_ marker: String) -> Bool {
            let needle = Array(marker.utf8)
            guard text.count >= needle.count else { return false }
            return (0...(text.count - needle.count)).contains { start in
                needle.indices.allSatisfy { lowered(text[start + $0]) == needle[$0] }
            }
        }
        return skipMarkers.first(where: occurs)
    }
}
