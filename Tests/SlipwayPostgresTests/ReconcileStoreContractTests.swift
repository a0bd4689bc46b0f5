import Foundation
import SlipwayCore
import SlipwayStore
import SlipwayTesting
import Testing

/// `reconcileHead` and the pushes it meets, on both backends (`StoreContractTests`).
extension StoreContractTests {
    static func listed(_ ref: String = "refs/heads/main", sha: String) -> BuildRequest {
        BuildRequest(repository: "acme/app", ref: ref, sha: commit(sha), cloneURL: "file:///x", trigger: .reconcile, deliveryID: nil)
    }

    @Test(arguments: Backend.allCases)
    func aListedHeadIsBuiltOnlyWhenNoDeliveryOrListingAnnouncedIt(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            // A branch never seen: baseline; the same head again: unchanged.
            #expect(
                try await store.reconcileHead(Self.listed(sha: "a"), supersedeOlder: true, queue: true)
                    == .decided(.baseline, existingBuild: nil))
            #expect(
                try await store.reconcileHead(Self.listed(sha: "a"), supersedeOlder: true, queue: true)
                    == .decided(.unchanged, existingBuild: nil))
            // Moved while no delivery came: first only said (nothing written), then built, once.
            #expect(
                try await store.reconcileHead(Self.listed(sha: "b"), supersedeOlder: true, queue: false)
                    == .decided(.build, existingBuild: nil))
            #expect(try await store.builds(BuildFilter(limit: 10)).isEmpty)
            guard case .queued(let caughtUp) = try await store.reconcileHead(Self.listed(sha: "b"), supersedeOlder: true, queue: true)
            else {
                Issue.record("not queued")
                return
            }
            #expect(caughtUp.trigger == .reconcile && caughtUp.sha == Self.commit("b") && caughtUp.state == .queued)
            #expect(
                try await store.reconcileHead(Self.listed(sha: "b"), supersedeOlder: true, queue: true)
                    == .decided(.built, existingBuild: caughtUp.id))

            // A push delivered (and built) before the listing's turn: not built again.
            let pushed = try await store.recordDelivery(
                Self.delivery("p-c"), build: Self.request(sha: "c", delivery: "p-c"), supersedeOlder: true)
            guard case .stored(let pushBuild?, _) = pushed else { throw HarnessError("push not stored: \(pushed)") }
            #expect(
                try await store.reconcileHead(Self.listed(sha: "c"), supersedeOlder: true, queue: true)
                    == .decided(.built, existingBuild: pushBuild.id))

            // A superseded build counts as built.
            _ = try await store.recordDelivery(Self.delivery("p-d"), build: Self.request(sha: "d", delivery: "p-d"), supersedeOlder: true)
            #expect(try await store.build(id: pushBuild.id)?.state == .superseded)
            #expect(
                try await store.reconcileHead(Self.listed(sha: "c"), supersedeOlder: true, queue: true)
                    == .decided(.built, existingBuild: pushBuild.id))

            // A `[skip ci]` push: announced, not built by the listing either.
            var skipped = Self.delivery("p-e")
            skipped.result = .ignored(reason: "head commit message contains [skip ci]")
            skipped.skippedHead = AnnouncedHead(lane: Self.listed(sha: "e").lane, sha: Self.commit("e"))
            _ = try await store.recordDelivery(skipped, build: nil, supersedeOlder: true)
            #expect(
                try await store.reconcileHead(Self.listed(sha: "e"), supersedeOlder: true, queue: true)
                    == .decided(.announced, existingBuild: nil))

            // A branch first listed with a build behind it is not new: its unannounced head is built.
            _ = try await store.recordDelivery(
                Self.delivery("p-f"), build: Self.request("refs/heads/dev", sha: "f", delivery: "p-f"), supersedeOlder: true)
            guard case .queued = try await store.reconcileHead(Self.listed("refs/heads/dev", sha: "g"), supersedeOlder: true, queue: true)
            else {
                Issue.record("a known branch's unannounced head was not built")
                return
            }
            let builds = try await store.builds(BuildFilter(limit: 100))
            #expect(builds.filter { $0.trigger == .reconcile }.map(\.sha) == [Self.commit("g"), Self.commit("b")])
        }
    }

    /// The race both ways, on many lanes at once: a push delivery and a listing of the
    /// same head, started together. Whichever the store takes first, the head is built
    /// once; a push that comes second is answered with reconcile's build.
    @Test(arguments: Backend.allCases)
    func aPushAndAListingOfOneHeadAtOnceBuildItOnce(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let lanes = (0..<40).map { "refs/heads/b\($0)" }
            // Every branch known (listed once), so that an unannounced head is built.
            for ref in lanes { _ = try await store.reconcileHead(Self.listed(ref, sha: "old-\(ref)"), supersedeOlder: true, queue: true) }
            let pushOutcomes = try await withThrowingTaskGroup(of: DeliveryOutcome?.self) { group in
                for ref in lanes {
                    group.addTask {
                        try await store.recordDelivery(
                            Self.delivery("push-\(ref)"), build: Self.request(ref, sha: "new-\(ref)", delivery: "push-\(ref)"),
                            supersedeOlder: true)
                    }
                    group.addTask {
                        _ = try await store.reconcileHead(Self.listed(ref, sha: "new-\(ref)"), supersedeOlder: true, queue: true)
                        return nil
                    }
                }
                return try await group.reduce(into: [DeliveryOutcome]()) { if let outcome = $1 { $0.append(outcome) } }
            }
            let builds = try await store.builds(BuildFilter(limit: 1000))
            for ref in lanes {
                let ofHead = builds.filter { $0.ref == ref && $0.sha == Self.commit("new-\(ref)") }
                #expect(ofHead.count == 1, "\(ref): \(ofHead.map { "\($0.id) \($0.trigger)" })")
            }
            let caughtUp = pushOutcomes.compactMap { outcome -> Int64? in
                if case .builtByReconcile(let id) = outcome { id } else { nil }
            }
            #expect(caughtUp.count == builds.filter { $0.trigger == .reconcile }.count)
        }
    }

    /// A push delivered after the listing built its head (late, or sent again by hand):
    /// stored, naming reconcile's build, not built twice; a redelivery of it is a duplicate.
    @Test(arguments: Backend.allCases)
    func aLatePushOfAHeadReconcileBuiltNamesThatBuild(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            _ = try await store.reconcileHead(Self.listed(sha: "a"), supersedeOlder: true, queue: true)
            guard case .queued(let caughtUp) = try await store.reconcileHead(Self.listed(sha: "b"), supersedeOlder: true, queue: true)
            else {
                throw HarnessError("not queued")
            }
            let late = try await store.recordDelivery(
                Self.delivery("late"), build: Self.request(sha: "b", delivery: "late"), supersedeOlder: true)
            #expect(late == .builtByReconcile(buildID: caughtUp.id))
            let again = try await store.recordDelivery(
                Self.delivery("late"), build: Self.request(sha: "b", delivery: "late"), supersedeOlder: true)
            #expect(again == .duplicate(buildID: caughtUp.id))
            #expect(try await store.delivery(id: "late")?.result == .ignored(reason: DeliveryOutcome.builtByReconcileReason(caughtUp.id)))
            #expect(try await store.builds(BuildFilter(limit: 10)).count == 1)
            #expect(try await store.build(id: caughtUp.id)?.state == .queued, "not superseded by its own push")
            // A push of another head of the branch is built as ever.
            guard
                case .stored(_?, _) = try await store.recordDelivery(
                    Self.delivery("next"), build: Self.request(sha: "c", delivery: "next"), supersedeOlder: true)
            else { throw HarnessError("the next push was not built") }
        }
    }
}

/// The newest build of each ref of one repository (the status view's read), both backends.
extension StoreContractTests {
    @Test(arguments: Backend.allCases)
    func theNewestBuildOfEachRefOfOneRepositoryOnly(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            var newest: [String: Int64] = [:]
            for (ref, sha, repository) in [
                ("refs/heads/main", "1", "acme/app"), ("refs/heads/dev", "2", "acme/app"), ("refs/heads/main", "3", "Acme/App"),
                ("refs/heads/main", "4", "acme/app2"), ("refs/heads/main", "5", "acme/ap"),
            ] {
                let build = try await store.enqueue(Self.request(ref, sha: sha, repository: repository), supersedeOlder: false)
                if repository.lowercased() == "acme/app" { newest[ref] = build.id }
            }
            let found = try await store.newestBuildPerRef(repository: "ACME/app")
            #expect(found.map(\.id) == newest.values.sorted(by: >), "\(found.map { "\($0.id) \($0.repository) \($0.ref)" })")
        }
    }
}
