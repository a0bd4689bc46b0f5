import Foundation
import SlipwayCore
import SlipwayStore
import Testing

@testable import SlipwayPostgres

/// What a group of deliveries writes on PostgreSQL, worked out without a server: the rules
/// of one delivery at a time, applied in arrival order.
@Suite struct DeliveryGroupPlanTests {
    typealias Entry = DeliveryGroupPlan.Entry

    @Test func pushesToOneBranchLeaveTheNewestQueuedAndEachBuildOneFinalStatus() throws {
        let stored = storedBuild(5)
        let entries = ["d1", "d2", "d3"].map { push($0) }
        let plan = try DeliveryGroupPlan(
            entries: entries, inserted: ["d1", "d2", "d3"], existingBuildIDs: [:], reservedIDs: [10, 11, 12],
            queuedByLane: [lane: [stored]])

        #expect(
            plan.outcomes == [
                .stored(build: queued(10, "d1"), superseded: [5]), .stored(build: queued(11, "d2"), superseded: [10]),
                .stored(build: queued(12, "d3"), superseded: [11]),
            ])
        // Builds 10 and 11 are written once, already superseded; 12 stays queued.
        #expect(plan.newBuilds.map(\.id) == [10, 11, 12])
        #expect(plan.newBuilds.map(\.state) == [.superseded, .superseded, .queued])
        #expect(plan.newBuilds.map(\.reason) == ["superseded by build #11", "superseded by build #12", nil])
        #expect(plan.supersededBuilds.map(\.id) == [5])
        #expect(plan.supersededBuilds.first?.reason == "superseded by build #10")
        #expect(plan.supersededBuilds.first?.finishedAt == 100)
        // One outbox row per build, in the order each first changed, with its final status.
        #expect(plan.statuses.map(\.build.id) == [5, 10, 11, 12])
        #expect(
            plan.statuses.map(\.status)
                == [5, 10, 11, 12].map { id in
                    CommitStatus.of(plan.newBuilds.first { $0.id == id } ?? plan.supersededBuilds.first { $0.id == id }!)
                })
        #expect(plan.statuses.map(\.status.state) == [.error, .error, .error, .pending])
    }

    @Test func duplicatesInTheGroupAndBeforeItAreAnsweredWithTheirBuild() throws {
        let entries = [push("known"), push("new"), push("new"), Entry(delivery: delivery("ping"), request: nil, supersedeOlder: true)]
        let plan = try DeliveryGroupPlan(
            entries: entries, inserted: ["new", "ping"], existingBuildIDs: ["known": 3], reservedIDs: [20, 21, 22],
            queuedByLane: [:])
        // Reserved ids go by position: the duplicate "known" leaves 20 unused, "new" takes 21.
        #expect(
            plan.outcomes == [
                .duplicate(buildID: 3), .stored(build: queued(21, "new"), superseded: []), .duplicate(buildID: 21),
                .stored(build: nil, superseded: []),
            ])
        #expect(plan.newBuilds.map(\.id) == [21])
        #expect(plan.supersededBuilds.isEmpty)
        #expect(plan.statuses.map(\.build.id) == [21])
    }

    @Test func withoutSupersedingEveryBuildStaysQueuedAndOtherBranchesAreLeftAlone() throws {
        let entries = [push("a", supersede: false), push("b", ref: "refs/heads/dev"), push("c", supersede: false)]
        let plan = try DeliveryGroupPlan(
            entries: entries, inserted: ["a", "b", "c"], existingBuildIDs: [:], reservedIDs: [1, 2, 3],
            queuedByLane: [BuildLane.key(repository: "acme/app", ref: "refs/heads/dev"): []])
        #expect(plan.newBuilds.map(\.state) == [.queued, .queued, .queued])
        let superseded = plan.outcomes.map { outcome -> [Int64]? in
            if case .stored(_, let superseded) = outcome { return superseded }
            return nil
        }
        #expect(superseded == [[], [], []])
    }

    @Test func tooFewReservedIdsIsAnErrorNotAMissingBuild() {
        #expect(throws: DeliveryGroupPlan.PlanProblem.self) {
            try DeliveryGroupPlan(
                entries: [push("a"), push("b")], inserted: ["a", "b"], existingBuildIDs: [:], reservedIDs: [1], queuedByLane: [:])
        }
    }

    // MARK: - Helpers

    let lane = BuildLane.key(repository: "acme/app", ref: "refs/heads/main")
    static let sha = CommitID(String(repeating: "a", count: 40))!

    func delivery(_ id: String) -> DeliveryRecord {
        DeliveryRecord(id: id, event: "push", repository: "acme/app", receivedAt: 100, result: .queued)
    }

    func push(_ id: String, ref: String = "refs/heads/main", supersede: Bool = true) -> Entry {
        Entry(
            delivery: delivery(id),
            request: BuildRequest(repository: "acme/app", ref: ref, sha: Self.sha, cloneURL: nil, trigger: .push, deliveryID: id),
            supersedeOlder: supersede)
    }

    func queued(_ id: Int64, _ delivery: String) -> Build {
        Build(
            id: id, repository: "acme/app", ref: "refs/heads/main", sha: Self.sha, cloneURL: nil, trigger: .push, deliveryID: delivery,
            state: .queued, reason: nil, createdAt: 100, startedAt: nil, finishedAt: nil, attempts: 0)
    }

    /// A build queued before the group.
    func storedBuild(_ id: Int64) -> Build {
        Build(
            id: id, repository: "acme/app", ref: "refs/heads/main", sha: Self.sha, cloneURL: nil, trigger: .push, deliveryID: nil,
            state: .queued, reason: nil, createdAt: 50, startedAt: nil, finishedAt: nil, attempts: 0)
    }
}
