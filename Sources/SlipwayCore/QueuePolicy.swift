/// Which queued builds may start now. Pure: the store supplies the facts.
///
/// Invariants: at most `freeWorkers` builds start; builds of one lane (repository + ref)
/// run one at a time and in the order they were queued (ascending id).
public enum QueuePolicy {
    public struct Candidate: Sendable, Equatable {
        public let id: Int64
        public let lane: String
        public init(id: Int64, lane: String) {
            self.id = id
            self.lane = lane
        }
    }

    public static func runnable(queued: [Candidate], runningLanes: Set<String>, freeWorkers: Int) -> [Int64] {
        guard freeWorkers > 0 else { return [] }
        var busy = runningLanes
        var picked: [Int64] = []
        for candidate in queued.sorted(by: { $0.id < $1.id }) {
            guard picked.count < freeWorkers else { break }
            // The oldest queued build of a lane blocks the younger ones even when it
            // cannot start itself, so order within the lane is kept.
            if busy.contains(candidate.lane) { continue }
            busy.insert(candidate.lane)
            picked.append(candidate.id)
        }
        return picked
    }

    /// Whether a new build can supersede anything at all (a branch push, or the reconcile
    /// build standing in for a missed one, with cancel_superseded on): when not, its lane
    /// need not even be looked at.
    public static func maySupersede(_ newBuild: BuildRequest, enabled: Bool) -> Bool {
        enabled && (newBuild.trigger == .push || newBuild.trigger == .reconcile) && GitRefName.branch(of: newBuild.ref) != nil
    }

    /// The builds a new build supersedes: older, unfinished builds of the same lane, when
    /// it comes from a push. Running ones only when `includeRunning` (cancel_superseded).
    public static func superseded(
        by newBuild: BuildRequest, newID: Int64, active: [(id: Int64, lane: String, state: BuildState)], enabled: Bool
    ) -> [Int64] {
        guard maySupersede(newBuild, enabled: enabled) else { return [] }
        return active.filter { $0.lane == newBuild.lane && $0.id < newID && !$0.state.isTerminal }.map(\.id)
    }

    /// Crash recovery: a build found `running` at start-up may run once more.
    public static let maxAttempts = 2
}
