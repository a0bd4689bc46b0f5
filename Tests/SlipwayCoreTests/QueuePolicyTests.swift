import SlipwayCore
import Testing

@Suite struct QueuePolicyTests {
    typealias C = QueuePolicy.Candidate

    @Test func startsAtMostFreeWorkersOldestFirst() {
        let queued = [C(id: 3, lane: "c"), C(id: 1, lane: "a"), C(id: 2, lane: "b")]
        #expect(QueuePolicy.runnable(queued: queued, runningLanes: [], freeWorkers: 2) == [1, 2])
        #expect(QueuePolicy.runnable(queued: queued, runningLanes: [], freeWorkers: 0) == [])
    }

    @Test func oneBuildPerLaneAtATimeInPushOrder() {
        let queued = [C(id: 1, lane: "a"), C(id: 2, lane: "a"), C(id: 3, lane: "b")]
        #expect(QueuePolicy.runnable(queued: queued, runningLanes: [], freeWorkers: 5) == [1, 3])
        #expect(QueuePolicy.runnable(queued: queued, runningLanes: ["a"], freeWorkers: 5) == [3])
    }

    @Test func pushesSupersedeOlderUnfinishedBuildsOfTheirBranchOnly() {
        let push = BuildRequest(
            repository: "acme/app", ref: "refs/heads/main", sha: CommitID(String(repeating: "a", count: 40))!, cloneURL: nil,
            trigger: .push, deliveryID: "d")
        let lane = push.lane
        let active: [(id: Int64, lane: String, state: BuildState)] = [
            (1, lane, .queued), (2, lane, .running), (3, "other", .queued), (4, lane, .success), (9, lane, .queued),
        ]
        #expect(QueuePolicy.superseded(by: push, newID: 5, active: active, enabled: true) == [1, 2])
        #expect(QueuePolicy.superseded(by: push, newID: 5, active: active, enabled: false) == [])
        var rebuild = push
        rebuild.trigger = .rebuild
        #expect(QueuePolicy.superseded(by: rebuild, newID: 5, active: active, enabled: true) == [])
        let tag = BuildRequest(repository: "acme/app", ref: "refs/tags/v1", sha: push.sha, cloneURL: nil, trigger: .push, deliveryID: "d")
        #expect(QueuePolicy.superseded(by: tag, newID: 5, active: [(1, tag.lane, .queued)], enabled: true) == [])
    }
}
