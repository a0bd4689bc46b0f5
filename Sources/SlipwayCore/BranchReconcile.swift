/// `reconcile`'s pure parts. GitHub does not redeliver a webhook by itself: a push whose
/// delivery met a stopped daemon or a cut network is gone. So each repository's branch
/// heads are listed (`git ls-remote`) now and then, and a head no delivery announced is
/// built as if its push had arrived (trigger `reconcile`).
public enum BranchListing {
    /// The most branch heads one listing is read for; a remote listing more is cut there
    /// (the refs are read in the remote's order, sorted by name).
    public static let maxHeads = 10_000

    /// The default branch and the branch heads in `git ls-remote --symref URL HEAD
    /// 'refs/heads/*'`: `ref: refs/heads/main<TAB>HEAD`, then `<sha><TAB><ref>` lines.
    /// Lines that are not a valid ref with a full commit id are skipped.
    public static func parse(_ text: String) -> (defaultBranch: String?, heads: [String: CommitID]) {
        var defaultBranch: String?
        var heads: [String: CommitID] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 2 else { continue }
            let name = String(fields[1])
            if name == "HEAD" {
                if fields[0].hasPrefix("ref: ") { defaultBranch = GitRefName.branch(of: String(fields[0].dropFirst(5))) }
                continue
            }
            guard heads.count < maxHeads, GitRefName.isValid(name), GitRefName.branch(of: name) != nil,
                let sha = CommitID(fields[0])
            else { continue }
            heads[name] = sha
        }
        return (defaultBranch, heads)
    }

    /// The listed heads `repository` builds, by ref name: the branches its `branches`
    /// patterns match, or (none set) the default branch only, as a push is filtered.
    public static func wanted(
        _ heads: [String: CommitID], defaultBranch: String?, repository: RepositoryConfig
    ) -> [(ref: String, sha: CommitID)] {
        heads.compactMap { ref, sha -> (ref: String, sha: CommitID)? in
            guard let branch = GitRefName.branch(of: ref) else { return nil }
            let built =
                if let patterns = repository.branches { patterns.contains { Glob.matches($0, branch) } } else { branch == defaultBranch }
            return built ? (ref, sha) : nil
        }.sorted { $0.ref < $1.ref }
    }
}

/// What is known about one listed branch head, read under its lane's lock.
public struct ListedHeadFacts: Sendable, Equatable {
    /// A build of this commit on this branch, if any (of any trigger and state:
    /// superseded, failed and canceled builds count as built).
    public var existingBuild: Int64?
    /// A push delivery named this commit as the branch's head and was not built for a
    /// reason the commit gave (`[skip ci]`).
    public var announced: Bool
    /// The head the previous listing found, if the branch was listed before.
    public var previouslyListed: CommitID?
    /// The branch had a build or a delivery before (it is not new to Slipway).
    public var branchSeen: Bool

    public init(existingBuild: Int64?, announced: Bool, previouslyListed: CommitID?, branchSeen: Bool) {
        self.existingBuild = existingBuild
        self.announced = announced
        self.previouslyListed = previouslyListed
        self.branchSeen = branchSeen
    }
}

/// What a listed branch head needs.
public enum ReconcileDecision: String, Sendable, Equatable, CaseIterable {
    /// A build of the commit exists.
    case built
    /// A delivery announced it and it was not to be built (`[skip ci]`).
    case announced
    /// The previous listing found the same head (and chose not to build it).
    case unchanged
    /// The first listing of a branch Slipway never saw: remembered, not built (a fresh
    /// daemon, or a new `branches:` pattern, does not start a build storm).
    case baseline
    /// Nobody announced this head: build it, as the missed push would have.
    case build

    public static func decide(_ facts: ListedHeadFacts, head: CommitID) -> ReconcileDecision {
        if facts.existingBuild != nil { return .built }
        if facts.announced { return .announced }
        if let previous = facts.previouslyListed { return previous == head ? .unchanged : .build }
        return facts.branchSeen ? .build : .baseline
    }
}

/// The store's answer to one listed head: the decision, and the build it queued.
public enum ReconcileOutcome: Sendable, Equatable {
    case decided(ReconcileDecision, existingBuild: Int64?)
    case queued(Build)

    public var decision: ReconcileDecision {
        switch self {
        case .decided(let decision, _): decision
        case .queued: .build
        }
    }
}
