import Foundation
import Logging
import SlipwayCore
import SlipwayStore
import SlipwayTesting
import Synchronization
import Testing

@testable import SlipwayPostgres

/// The store contract (`BuildStore`'s rules), one suite run against both backends: SQLite
/// in a temporary directory, PostgreSQL in a database of its own on a server started for
/// this test process (its builds' leases last no time here, so that a build left running
/// counts as interrupted at once, as SQLite's do at start-up).
@Suite struct StoreContractTests {
    enum Backend: String, CaseIterable, Sendable { case sqlite, postgres }

    typealias Store = BuildStore & DeploymentStore

    @Test(arguments: Backend.allCases)
    func concurrentRedeliveriesOfOneIDStoreExactlyOneBuild(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let outcomes = try await withThrowingTaskGroup(of: DeliveryOutcome.self) { group in
                for _ in 0..<64 {
                    group.addTask {
                        try await store.recordDelivery(Self.delivery("d-1"), build: Self.request(delivery: "d-1"), supersedeOlder: true)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let stored = outcomes.compactMap { outcome -> Int64? in
                if case .stored(let build, _) = outcome { return build?.id }
                return nil
            }
            #expect(stored.count == 1)
            #expect(outcomes.filter { $0 == .duplicate(buildID: stored.first) }.count == 63)
            #expect(try await store.builds(BuildFilter(limit: 1000)).count == 1)
            #expect(try await store.delivery(id: "d-1")?.buildID == stored.first)
        }
    }

    /// A storm of pushes on two branches, some delivered twice, all at once (the deliveries
    /// are written in groups): one build per delivery id, the newest of each branch left
    /// queued, every other superseded by a newer build of its own branch, and each build's
    /// last unsent status is the one of its final state.
    @Test(arguments: Backend.allCases)
    func aConcurrentStormOnTwoBranchesEndsWithTheNewestOfEachQueuedAndStatusesToMatch(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let ids = (0..<120).map { "storm-\($0)" }
            let sent = ids + ids.enumerated().filter { $0.offset % 10 == 0 }.map(\.element)
            let outcomes = try await withThrowingTaskGroup(of: (String, DeliveryOutcome).self) { group in
                for (index, id) in sent.enumerated() {
                    let branch = index % 3 == 0 ? "refs/heads/dev" : "refs/heads/main"
                    group.addTask {
                        (
                            id,
                            try await store.recordDelivery(
                                Self.delivery(id), build: Self.request(branch, sha: id, delivery: id), supersedeOlder: true)
                        )
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            var storedBuild: [String: Int64] = [:]
            for case (let id, .stored(let build?, _)) in outcomes { storedBuild[id] = build.id }
            #expect(storedBuild.count == ids.count, "each delivery id stored once")
            for case (let id, .duplicate(let buildID)) in outcomes { #expect(buildID == storedBuild[id], "\(id)") }
            for id in ids.prefix(10) { #expect(try await store.delivery(id: id)?.buildID == storedBuild[id]) }

            let builds = try await store.builds(BuildFilter(limit: 1000))
            #expect(builds.count == ids.count)
            for lane in Set(builds.map(\.lane)) {
                let inLane = builds.filter { $0.lane == lane }
                let newest = inLane.map(\.id).max()
                #expect(inLane.filter { $0.state == .queued }.map(\.id) == [newest].compactMap { $0 })
                for build in inLane where build.id != newest {
                    #expect(build.state == .superseded)
                    let by = build.reason.flatMap { Int64($0.replacingOccurrences(of: "superseded by build #", with: "")) }
                    #expect(by.map { by in by > build.id && inLane.contains { $0.id == by } } == true, "\(build.id): \(build.reason ?? "")")
                }
            }
            let statuses = try await store.openStatuses(limit: 10_000)
            #expect(statuses.map(\.id) == statuses.map(\.id).sorted())
            for build in builds {
                #expect(statuses.last { $0.buildID == build.id }?.status == CommitStatus.of(build), "build \(build.id)")
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func aNewerPushSupersedesQueuedBuildsOfItsBranchOnly(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let first = try await store.enqueue(Self.request(sha: "a1"), supersedeOlder: true)
            let other = try await store.enqueue(Self.request("refs/heads/dev", sha: "b1"), supersedeOlder: true)
            let second = try await store.enqueue(Self.request(sha: "a2"), supersedeOlder: true)
            #expect(try await store.build(id: first.id)?.state == .superseded)
            #expect(try await store.build(id: first.id)?.reason == "superseded by build #\(second.id)")
            #expect(try await store.build(id: first.id)?.finishedAt != nil)
            #expect(try await store.build(id: other.id)?.state == .queued)
            #expect(try await store.build(id: second.id)?.state == .queued)
            #expect(try await store.countByState() == [.superseded: 1, .queued: 2])
        }
    }

    @Test(arguments: Backend.allCases)
    func withoutCancelSupersededOlderBuildsStayQueued(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let first = try await store.enqueue(Self.request(sha: "a1"), supersedeOlder: false)
            _ = try await store.enqueue(Self.request(sha: "a2"), supersedeOlder: false)
            #expect(try await store.build(id: first.id)?.state == .queued)
        }
    }

    @Test(arguments: Backend.allCases)
    func aDeliveryWithoutABuildIsStoredAndDeduplicated(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let ignored = DeliveryRecord(
                id: "d-ignored", event: "push", repository: "acme/app", receivedAt: 1, result: .ignored(reason: "tag pushes are not built"))
            let first = try await store.recordDelivery(ignored, build: nil, supersedeOlder: true)
            #expect(first == .stored(build: nil, superseded: []))
            let again = try await store.recordDelivery(ignored, build: nil, supersedeOlder: true)
            #expect(again == .duplicate(buildID: nil))
            let read = try await store.delivery(id: "d-ignored")
            #expect(read?.result == .ignored(reason: "tag pushes are not built"))
            let unknown = try await store.delivery(id: "d-unknown")
            #expect(unknown == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func listingFiltersAndPaginatesNewestFirst(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            var ids: [Int64] = []
            for index in 0..<5 { ids.append(try await store.enqueue(Self.request("refs/heads/b\(index)"), supersedeOlder: true).id) }
            _ = try await store.enqueue(Self.request(repository: "acme/other"), supersedeOlder: true)
            let page = try await store.builds(BuildFilter(repository: "ACME/app", limit: 2))
            #expect(page.map(\.id) == [ids[4], ids[3]])
            let next = try await store.builds(BuildFilter(repository: "acme/app", limit: 2, before: ids[3]))
            #expect(next.map(\.id) == [ids[2], ids[1]])
            #expect(try await store.builds(BuildFilter(state: .running)).isEmpty)
            #expect(try await store.builds(BuildFilter(state: .queued, limit: 100)).count == 6)
        }
    }

    @Test(arguments: Backend.allCases)
    func aBuildReadsBackAsStored(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let request = BuildRequest(
                repository: "acme/app", ref: "refs/heads/ünï-🚀", sha: Self.commit("x"), cloneURL: "https://example.com/acme/app.git",
                trigger: .push, deliveryID: "d-x")
            guard case .stored(let build?, _) = try await store.recordDelivery(Self.delivery("d-x"), build: request, supersedeOlder: true)
            else {
                Issue.record("not stored")
                return
            }
            #expect(try await store.build(id: build.id) == build)
            try await store.ping()
            #expect(store.writeProblem == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func buildsOfOneLaneRunOneAtATimeInPushOrder(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let a1 = try await store.enqueue(Self.request(sha: "a1"), supersedeOlder: false)
            let a2 = try await store.enqueue(Self.request(sha: "a2"), supersedeOlder: false)
            let b1 = try await store.enqueue(Self.request("refs/heads/dev", sha: "b1"), supersedeOlder: false)
            let claimed = try await store.claimRunnable(freeWorkers: 4)
            #expect(claimed.map(\.id) == [a1.id, b1.id])
            #expect(try await store.claimRunnable(freeWorkers: 4).isEmpty)
            try await store.transition(a1.id, .finish(.success), reason: nil)
            #expect(try await store.claimRunnable(freeWorkers: 4).map(\.id) == [a2.id])
        }
    }

    @Test(arguments: Backend.allCases)
    func claimingRespectsFreeWorkers(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            for index in 0..<3 { _ = try await store.enqueue(Self.request("refs/heads/b\(index)"), supersedeOlder: true) }
            #expect(try await store.claimRunnable(freeWorkers: 2).count == 2)
            #expect(try await store.claimRunnable(freeWorkers: 0).isEmpty)
            #expect(try await store.claimRunnable(freeWorkers: 2).count == 1)
        }
    }

    @Test(arguments: Backend.allCases)
    func anInterruptedBuildIsRequeuedOnceThenErrored(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let build = try await store.enqueue(Self.request(), supersedeOlder: true)
            let fence = try #require(try await store.claimRunnable(freeWorkers: 1).first?.fence)
            try await store.recordStepStart(buildID: build.id, attempt: 1, name: "test", fence: fence)

            let first = try await store.recoverInterrupted()
            #expect(first.map(\.state) == [.queued])
            #expect(try await store.steps(buildID: build.id).first?.state == .error)

            #expect(try await store.claimRunnable(freeWorkers: 1).first?.attempts == 2)
            let second = try await store.recoverInterrupted()
            #expect(second.map(\.state) == [.error])
            #expect(second.first?.reason?.contains("2 times") == true)
            #expect(try await store.recoverInterrupted().isEmpty)
        }
    }

    @Test(arguments: Backend.allCases)
    func aCheckpointGivesTheAttemptBack(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let build = try await store.enqueue(Self.request(), supersedeOlder: true)
            _ = try await store.claimRunnable(freeWorkers: 1)
            let checkpointed = try await store.transition(build.id, .checkpoint, reason: "daemon stopping")
            #expect(checkpointed?.state == .queued)
            #expect(checkpointed?.attempts == 0)
        }
    }

    @Test(arguments: Backend.allCases)
    func aForbiddenTransitionIsRefusedAndNothingChanges(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let build = try await store.enqueue(Self.request(), supersedeOlder: true)
            await #expect(throws: InvalidTransition.self) {
                try await store.transition(build.id, .finish(.success), reason: nil)
            }
            #expect(try await store.build(id: build.id)?.state == .queued)
            #expect(try await store.transition(9999, .start, reason: nil) == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func stepsAreRecordedPerAttempt(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let build = try await store.enqueue(Self.request(), supersedeOlder: true)
            let fence = try #require(try await store.claimRunnable(freeWorkers: 1).first?.fence)
            try await store.recordStepStart(buildID: build.id, attempt: 1, name: "test", fence: fence)
            try await store.recordStepEnd(
                buildID: build.id, attempt: 1, name: "test", outcome: .failure(exitCode: 3, detail: "exit 3"), fence: fence)
            let steps = try await store.steps(buildID: build.id)
            #expect(steps.count == 1)
            #expect(steps.first?.state == .failure)
            #expect(steps.first?.exitCode == 3)
            #expect(steps.first?.finishedAt != nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func onlyDeliveredOrClosedStatusesArePrunedAndOnlyOldOnes(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let first = try await store.enqueue(Self.request(sha: "a1"), supersedeOlder: false)
            _ = try await store.enqueue(Self.request("refs/heads/other", sha: "b2"), supersedeOlder: false)
            let open = try await store.openStatuses(limit: 10)
            #expect(open.count == 2)
            try await store.closeStatus(id: open[0].id, .delivered)
            #expect(try await store.pruneStatuses(doneBefore: Date().timeIntervalSince1970 - 3600) == 0, "not old enough")
            #expect(try await store.pruneStatuses(doneBefore: Date().timeIntervalSince1970 + 1) == 1, "the delivered one")
            #expect(try await store.openStatuses(limit: 10).map(\.id) == [open[1].id], "the open one stays")
            #expect(try await store.build(id: first.id) != nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func aRepositoryDeploysOneAtATimeItsNewestImagedBuild(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let built = try await store.enqueue(Self.request(), supersedeOlder: true)
            let fence = try #require(try await store.claimRunnable(freeWorkers: 1).first?.fence)
            try await store.recordImage(
                buildID: built.id, ImageProvenance(name: "registry/app", tags: ["main"], digest: "sha256:aa"), fence: fence)
            try await store.transition(built.id, .finish(.success), reason: nil)
            _ = try await store.enqueue(Self.request("refs/heads/dev", sha: "b1"), supersedeOlder: true)   // no image
            let deployable = try #require(try await store.newestDeployableBuild(repository: "acme/app"))
            #expect(deployable.id == built.id)
            #expect(deployable.image?.digest == "sha256:aa")

            let image = "registry/app@sha256:aa"
            let first = try Self.created(
                try await store.createDeployment(of: deployable, image: image, trigger: .manual, requestedBy: "ops"))
            #expect(first.state == .queued && first.requestedBy == "ops" && first.image == image)
            #expect(
                try await store.createDeployment(of: deployable, image: image, trigger: .schedule, requestedBy: "schedule") == .busy(first))
            try await store.startDeployment(id: first.id)
            #expect(try await store.deployment(id: first.id)?.state == .running)
            try await store.finishDeployment(id: first.id, state: .success, reason: nil)
            let second = try Self.created(
                try await store.createDeployment(of: deployable, image: image, trigger: .schedule, requestedBy: "schedule"))
            #expect(try await store.deployments(repository: "acme/app", limit: 10).map(\.id) == [second.id, first.id])
            #expect(try await store.deployments(repository: nil, limit: 1).map(\.id) == [second.id])
            #expect(try await store.deployment(id: first.id)?.state == .success)
        }
    }

    @Test(arguments: Backend.allCases)
    func theDeployScheduleRemembersWhereItLooked(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            #expect(try await store.scheduleCheckedUntil(repository: "acme/app") == nil)
            try await store.setScheduleCheckedUntil(repository: "acme/app", 100)
            try await store.setScheduleCheckedUntil(repository: "acme/app", 250.5)
            #expect(try await store.scheduleCheckedUntil(repository: "acme/app") == 250.5)
            #expect(try await store.scheduleCheckedUntil(repository: "acme/other") == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func anInterruptedDeploymentEndsAsError(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let build = try await store.enqueue(Self.request(), supersedeOlder: true)
            let deployment = try Self.created(
                try await store.createDeployment(of: build, image: "r/a@sha256:bb", trigger: .manual, requestedBy: "ops"))
            try await store.startDeployment(id: deployment.id)
            let ended = try await store.recoverInterruptedDeployments()
            #expect(ended.map(\.id) == [deployment.id])
            #expect(ended.first?.state == .error && ended.first?.finishedAt != nil)
            #expect(try await store.deployment(id: deployment.id)?.reason?.hasPrefix("interrupted") == true)
            #expect(try await store.recoverInterruptedDeployments().isEmpty)
        }
    }

    /// A deployment another replica runs (its lease renewed) is not ended by a replica's
    /// start-up; one whose replica stopped is (PostgreSQL only).
    @Test func onlyADeploymentWhoseReplicaStoppedIsEnded() async throws {
        try await SharedPostgres.withDatabase(lease: .seconds(600)) { first, second in
            let build = try await first.enqueue(Self.request(), supersedeOlder: true)
            let deployment = try Self.created(
                try await first.createDeployment(of: build, image: "r/a@sha256:cc", trigger: .manual, requestedBy: "ops"))
            try await first.startDeployment(id: deployment.id)
            _ = try await first.renewLeases(of: [])
            #expect(try await second.recoverInterruptedDeployments().isEmpty, "a live deployment was ended")
            _ = try await first.database.client.query(
                "UPDATE deployment SET lease_expires_at = clock_timestamp() - interval '1 second'", logger: SharedPostgres.logger)
            #expect(try await second.recoverInterruptedDeployments().map(\.id) == [deployment.id])
        }
    }

    @Test(arguments: Backend.allCases)
    func everyClaimHasALargerFenceAndACheckpointKeepsIt(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let build = try await store.enqueue(Self.request(), supersedeOlder: true)
            #expect(build.fence == 0)
            let first = try #require(try await store.claimRunnable(freeWorkers: 1).first)
            #expect(first.fence == 1)
            #expect(try await store.build(id: build.id) == first, "the claim returned what was not stored")
            let checkpointed = try #require(try await store.transition(build.id, .checkpoint, reason: "stopping"))
            #expect(checkpointed.attempts == 0 && checkpointed.fence == 1, "a checkpoint gives the attempt back, not the fence")
            let second = try #require(try await store.claimRunnable(freeWorkers: 1).first)
            #expect(second.fence == 2 && second.attempts == 1)
            _ = try await store.recoverInterrupted()
            #expect(try await store.claimRunnable(freeWorkers: 1).first?.fence == 3)
        }
    }

    @Test(arguments: Backend.allCases)
    func writesForAnAttemptClaimedAgainAreRefusedAndChangeNothing(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let build = try await store.enqueue(Self.request(), supersedeOlder: true)
            let stale = try #require(try await store.claimRunnable(freeWorkers: 1).first?.fence)
            try await store.recordStepStart(buildID: build.id, attempt: 1, name: "test", fence: stale)
            _ = try await store.recoverInterrupted()   // its replica stopped renewing: taken over
            let current = try #require(try await store.claimRunnable(freeWorkers: 1).first)
            #expect(current.fence > stale)

            await #expect(throws: StaleAttempt(buildID: build.id, fence: stale)) {
                try await store.recordStepStart(buildID: build.id, attempt: 1, name: "image", fence: stale)
            }
            await #expect(throws: StaleAttempt(buildID: build.id, fence: stale)) {
                try await store.recordStepEnd(buildID: build.id, attempt: 1, name: "test", outcome: .success, fence: stale)
            }
            await #expect(throws: StaleAttempt(buildID: build.id, fence: stale)) {
                try await store.recordImage(buildID: build.id, ImageProvenance(name: "r/a", tags: [], digest: "sha256:ee"), fence: stale)
            }
            await #expect(throws: StaleAttempt(buildID: build.id, fence: stale)) {
                try await store.recordModel(
                    buildID: build.id, ModelProvenance(source: "s3://m/x", version: nil, sha256: "11"), fence: stale)
            }
            await #expect(throws: StaleAttempt(buildID: build.id, fence: stale)) {
                try await store.transition(build.id, .finish(.success), reason: nil, statusSummary: nil, fence: stale)
            }
            let after = try #require(try await store.build(id: build.id))
            #expect(after == current, "a stale write changed the build")
            #expect(try await store.steps(buildID: build.id).map(\.name) == ["test"], "a stale step was recorded")

            // The current attempt's writes, and an operator's (no fence), go through.
            try await store.recordStepStart(buildID: build.id, attempt: current.attempts, name: "test", fence: current.fence)
            #expect(try await store.transition(build.id, .cancel, reason: "canceled by ops")?.state == .canceled)
        }
    }

    /// Two replicas on one database (PostgreSQL only): a delivery redelivered to the other
    /// replica is a duplicate, and pushes to one branch arriving on both at once leave
    /// exactly one build queued, the newest.
    @Test func twoReplicasShareDeduplicationAndSuperseding() async throws {
        try await SharedPostgres.withDatabase { first, second in
            let pushes = 40
            let outcomes = try await withThrowingTaskGroup(of: DeliveryOutcome.self) { group in
                for index in 0..<pushes {
                    for replica in [first, second] {
                        group.addTask {
                            let id = "d-\(index)"
                            return try await replica.recordDelivery(
                                Self.delivery(id), build: Self.request(sha: "s\(index)", delivery: id), supersedeOlder: true)
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let stored = outcomes.filter { if case .stored = $0 { true } else { false } }
            #expect(stored.count == pushes, "each delivery id stored once across the replicas")
            #expect(outcomes.count - stored.count == pushes)
            let all = try await first.builds(BuildFilter(limit: 1000))
            #expect(all.count == pushes)
            let queued = all.filter { $0.state == .queued }
            #expect(queued.map(\.id) == [all.map(\.id).max()!], "one build left queued, the newest")
            #expect(all.filter { $0.state == .superseded }.count == pushes - 1)
        }
    }

    /// The fallback after a group failed (PostgreSQL only): one delivery written alone
    /// stores its build, supersedes as a group would, and answers a redelivery.
    @Test func aDeliveryWrittenAloneFollowsTheGroupsRules() async throws {
        try await SharedPostgres.withDatabase { store, _ in
            let older = try await store.enqueue(Self.request(sha: "a1"), supersedeOlder: true)
            let entry = DeliveryGroupPlan.Entry(
                delivery: Self.delivery("alone-1"), request: Self.request(sha: "a2", delivery: "alone-1"), supersedeOlder: true)
            guard case .stored(let build?, let superseded) = try await store.recordDeliveryAlone(entry) else {
                throw HarnessError("the delivery was not stored with a build")
            }
            #expect(superseded == [older.id])
            #expect(try await store.build(id: older.id)?.reason == "superseded by build #\(build.id)")
            #expect(try await store.delivery(id: "alone-1")?.buildID == build.id)
            #expect(try await store.recordDeliveryAlone(entry) == .duplicate(buildID: build.id))
        }
    }

    /// Leases (PostgreSQL only): a live lease keeps a build from the others; a renewed one
    /// stays live; one left to run out is taken over by another replica, and its first
    /// owner learns on its next renewal that it lost the build.
    @Test func aLeaseThatRunsOutIsTakenOverAndItsOwnerLearnsIt() async throws {
        try await SharedPostgres.withDatabase(lease: .seconds(600)) { first, second in
            let build = try await first.enqueue(Self.request(), supersedeOlder: true)
            #expect(try await first.claimRunnable(freeWorkers: 1).map(\.id) == [build.id])
            #expect(try await second.claimRunnable(freeWorkers: 1).isEmpty, "the lane runs on the first replica")
            #expect(try await second.recoverInterrupted().isEmpty, "a live lease was taken over")
            #expect(try await first.renewLeases(of: [build.id]).isEmpty, "the owner lost a live lease")
            #expect(
                try await second.renewLeases(of: [build.id]) == [build.id: .running], "another replica renewed a lease it does not hold")

            // The first replica stops renewing (paused, cut off) until its lease has run out;
            // the database's clock is moved past it rather than waited for.
            _ = try await first.database.client.query(
                "UPDATE build SET lease_expires_at = clock_timestamp() - interval '1 second' WHERE id = \(build.id)",
                logger: SharedPostgres.logger)
            let recovered = try await second.recoverInterrupted()
            #expect(recovered.map(\.id) == [build.id])
            #expect(recovered.first?.state == .queued)
            let retried = try await second.claimRunnable(freeWorkers: 1)
            #expect(retried.map(\.id) == [build.id])
            #expect(retried.first?.attempts == 2)
            #expect(
                try await first.renewLeases(of: [build.id]).keys.sorted() == [build.id], "the first owner did not learn it lost the build")
            #expect(try await second.renewLeases(of: [build.id]).isEmpty)
            #expect(try await Self.leaseOwner(build.id, first) == "replica-b")
            try await second.transition(build.id, .finish(.success), reason: nil)
            #expect(try await Self.leaseOwner(build.id, first) == nil, "a finished build kept its lease")
        }
    }

    /// Who holds the build's lease, as stored.
    static func leaseOwner(_ id: Int64, _ store: PostgresBuildStore) async throws -> String? {
        var owner: String?
        for try await value in try await store.database.client.query(
            "SELECT lease_owner FROM build WHERE id = \(id)", logger: SharedPostgres.logger
        ).decode(String?.self) {
            owner = value
        }
        return owner
    }

    /// Singleton jobs (PostgreSQL only): one holder at a time, kept while renewed, taken
    /// over once its lease runs out (with a new fence), given up at once on release.
    @Test func aSingletonJobHasOneHolderAndChangesHandsWhenItsLeaseRunsOut() async throws {
        try await SharedPostgres.withDatabase(lease: .seconds(600)) { first, second in
            let leasesA = PostgresSingletonLeases(
                database: first.database, replica: "replica-a", lease: .seconds(600), logger: SharedPostgres.logger)
            let leasesB = PostgresSingletonLeases(
                database: second.database, replica: "replica-b", lease: .seconds(600), logger: SharedPostgres.logger)
            // Both ask at once, many times: exactly one gets it.
            let winners = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<10 {
                    group.addTask { try await leasesA.hold("status-poster") == nil ? nil : "a" }
                    group.addTask { try await leasesB.hold("status-poster") == nil ? nil : "b" }
                }
                return Set(try await group.reduce(into: []) { $0.append($1) }.compactMap { $0 })
            }
            #expect(winners.count == 1)
            let (holder, other) = winners == ["a"] ? (leasesA, leasesB) : (leasesB, leasesA)
            let held = try #require(try await holder.hold("status-poster"))
            #expect(held.fence == 1, "renewing changed the fence")
            #expect(try await other.hold("status-poster") == nil)
            #expect(try await other.hold("deploy-scheduler") != nil, "jobs are held separately")

            _ = try await first.database.client.query(
                "UPDATE singleton_lease SET expires_at = clock_timestamp() - interval '1 second' WHERE name = 'status-poster'",
                logger: SharedPostgres.logger)
            #expect(try await other.hold("status-poster") == .init(job: "status-poster", fence: 2), "not taken over with a new fence")
            #expect(try await holder.hold("status-poster") == nil, "the stale holder kept it")
            try await holder.release("status-poster")   // not its own any more: nothing happens
            #expect(try await holder.hold("status-poster") == nil)
            try await other.release("status-poster")
            #expect(try await holder.hold("status-poster") == .init(job: "status-poster", fence: 3), "a released job was not free")
        }
    }

    /// The log in the database (PostgreSQL only): written under the claim's fence, read
    /// from another replica in order across attempts; the replica that lost the build
    /// writes nothing more to it.
    @Test func aLogIsReadFromAnyReplicaAndAStaleAttemptWritesNothing() async throws {
        try await SharedPostgres.withDatabase(lease: .seconds(600)) { first, second in
            let build = try await first.enqueue(Self.request(), supersedeOlder: true)
            _ = try await first.claimRunnable(freeWorkers: 1)
            let firstFence = try #require(try await first.fence(of: build.id))
            #expect(try await first.appendLog(buildID: build.id, fence: firstFence, Array("line one\n".utf8)))
            #expect(try await first.appendLog(buildID: build.id, fence: firstFence, Array("line two\n".utf8)))
            let seen = try await second.logChunks(buildID: build.id)
            #expect(seen.map { String(decoding: $0.bytes, as: UTF8.self) } == ["line one\n", "line two\n"])

            // The first replica is paused past its lease; the second takes the build over.
            _ = try await first.database.client.query(
                "UPDATE build SET lease_expires_at = clock_timestamp() - interval '1 second' WHERE id = \(build.id)",
                logger: SharedPostgres.logger)
            _ = try await second.recoverInterrupted()
            _ = try await second.claimRunnable(freeWorkers: 1)
            let secondFence = try #require(try await second.fence(of: build.id))
            #expect(secondFence > firstFence)
            #expect(try await first.appendLog(buildID: build.id, fence: firstFence, Array("stale\n".utf8)) == false)
            #expect(try await second.appendLog(buildID: build.id, fence: secondFence, Array("attempt two\n".utf8)))

            let all = try await first.logChunks(buildID: build.id)
            #expect(all.map(\.attempt) == [1, 1, 2])
            #expect(!all.contains { String(decoding: $0.bytes, as: UTF8.self) == "stale\n" })
            let rest = try await first.logChunks(buildID: build.id, after: (attempt: seen[1].attempt, sequence: seen[1].sequence))
            #expect(rest.map { String(decoding: $0.bytes, as: UTF8.self) } == ["attempt two\n"])
            try await second.transition(build.id, .finish(.success), reason: nil)
            #expect(try await second.appendLog(buildID: build.id, fence: secondFence, Array("build ended\n".utf8)))
            #expect(try await first.appendLog(buildID: build.id, fence: firstFence, Array("stale again\n".utf8)) == false)

            // Read by byte offset across the attempts, from any replica, in pieces.
            let whole = "line one\nline two\nattempt two\nbuild ended\n"
            #expect(try await first.logSize(buildID: build.id) == UInt64(whole.utf8.count))
            #expect(try await first.readLog(buildID: build.id, from: 0, limit: 1 << 20) == Array(whole.utf8))
            #expect(try await second.readLog(buildID: build.id, from: 5, limit: 1 << 20) == Array(whole.utf8.dropFirst(5)))
            var pieces: [UInt8] = []
            while case let more = try await second.readLog(buildID: build.id, from: UInt64(pieces.count), limit: 3), !more.isEmpty {
                pieces += more
            }
            #expect(pieces == Array(whole.utf8))
            #expect(try await first.readLog(buildID: build.id, from: UInt64(whole.utf8.count), limit: 10).isEmpty)
        }
    }

    // MARK: - Stores

    static func request(
        _ ref: String = "refs/heads/main", sha: String = "a1", delivery: String? = nil, repository: String = "acme/app"
    ) -> BuildRequest {
        BuildRequest(repository: repository, ref: ref, sha: commit(sha), cloneURL: nil, trigger: .push, deliveryID: delivery)
    }

    /// The deployment a creation made; a test error when the repository was busy.
    static func created(_ creation: DeploymentCreation) throws -> Deployment {
        guard case .created(let deployment) = creation else { throw HarnessError("not created: \(creation)") }
        return deployment
    }

    static func commit(_ label: String) -> CommitID { CommitID(Crypto.sha256(Array(label.utf8)).hexString.prefix(40))! }

    static func delivery(_ id: String) -> DeliveryRecord {
        DeliveryRecord(id: id, event: "push", repository: "acme/app", receivedAt: Date().timeIntervalSince1970, result: .queued)
    }

    func withStore(_ backend: Backend, _ body: (any Store) async throws -> Void) async throws {
        switch backend {
        case .sqlite:
            let directory = try TestPaths.temporaryDirectory("contract")
            defer { TestPaths.removeTemporaryDirectory(directory) }
            try await body(try SQLiteBuildStore(path: directory.appendingPathComponent("slipway.sqlite").path))
        case .postgres:
            try await SharedPostgres.withDatabase(lease: .zero) { store, _ in try await body(store) }
        }
    }
}

/// One PostgreSQL server for this test process, started by the first test that needs it
/// and stopped when the process exits; each test gets a database of its own on it.
enum SharedPostgres {
    private static let server = Mutex<Task<PostgresHarness, any Error>?>(nil)
    /// The started server, for the exit handler (which cannot await the task).
    private static let running = Mutex<PostgresHarness?>(nil)

    static let logger: Logger = {
        var logger = Logger(label: "postgres-contract")
        logger.logLevel = .warning
        return logger
    }()

    static func harness() async throws -> PostgresHarness {
        let task = server.withLock { task in
            if let task { return task }
            let started = Task {
                let harness = try await PostgresHarness(label: "contract")
                try await harness.start()
                running.withLock { $0 = harness }
                atexit { SharedPostgres.running.withLock { $0 }?.remove() }
                try await harness.psql("CREATE ROLE slipway LOGIN PASSWORD 'contract' CREATEDB")
                return harness
            }
            task = started
            return started
        }
        return try await task.value
    }

    /// A new database, migrated, and two stores on it (two replicas' pools), each running
    /// until `body` returns; the database is dropped afterwards.
    static func withDatabase(
        lease: Duration = .seconds(30), _ body: (PostgresBuildStore, PostgresBuildStore) async throws -> Void
    ) async throws {
        let server = try await harness()
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        try await server.psql("CREATE DATABASE \(name) OWNER slipway")
        let location = PostgresLocation(user: "slipway", host: "127.0.0.1", port: server.port, database: String(name), tls: .disable)
        let databases = (0..<2).map { _ in PostgresDatabase(location: location, password: "contract", logger: logger) }
        do {
            try await databases[0].migrate()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for database in databases { group.addTask { await database.run() } }
                defer { group.cancelAll() }
                try await body(
                    PostgresBuildStore(database: databases[0], replica: "replica-a", lease: lease, logger: logger),
                    PostgresBuildStore(database: databases[1], replica: "replica-b", lease: lease, logger: logger))
            }
        } catch {
            _ = try? await server.psql("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            throw error
        }
        try await server.psql("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}
