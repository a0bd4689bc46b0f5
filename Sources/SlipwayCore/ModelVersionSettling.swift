/// When `model.watch` takes a model's version as changed. A model can be seen while it is
/// being replaced: an uploader that rewrites the file in place, or a store whose listing
/// runs ahead of the object, shows a version that is gone a moment later. So a version
/// counts only once two polls in a row agree on it: the first settled version is the
/// baseline (no build), and each later settled version that differs from the last
/// settled one asks for one build. A version seen by one poll only never builds.
public struct ModelVersionSettling: Sendable, Equatable {
    private var lastSeen: String?
    private var settled: String?

    public init() {}

    /// Records one poll's version; true when it settles as a change (build once).
    public mutating func observe(_ version: String) -> Bool {
        defer { lastSeen = version }
        guard version == lastSeen else { return false }   // not (yet) stable
        guard let previous = settled else {
            settled = version   // the baseline
            return false
        }
        guard previous != version else { return false }
        settled = version
        return true
    }
}
