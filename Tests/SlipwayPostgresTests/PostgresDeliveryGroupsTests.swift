import Foundation
import SlipwayCore
import SlipwayStore
import Synchronization
import Testing

@testable import SlipwayPostgres

/// How deliveries are gathered into groups and answered (`PostgresDeliveryGroups`), with a
/// writer that records what it is given; the SQL of a group runs against a real server in
/// `StoreContractTests`.
@Suite struct PostgresDeliveryGroupsTests {
    @Test func deliveriesArrivingWhileAGroupWaitsForItsLanesJoinItOthersMakeTheNextGroup() async throws {
        let writer = RecordingWriter()
        writer.holdWrites()
        let groups = PostgresDeliveryGroups()
        try await withThrowingTaskGroup(of: DeliveryOutcome.self) { tasks in
            tasks.addTask { try await groups.submit(entry("first"), to: writer) }
            try await writer.waitUntilWriting()
            for index in 0..<20 { tasks.addTask { try await groups.submit(entry("main-\(index)"), to: writer) } }
            for index in 0..<5 { tasks.addTask { try await groups.submit(entry("dev-\(index)", ref: "refs/heads/dev"), to: writer) } }
            try await writer.waitUntilWaiting(25, in: groups)
            writer.releaseWrites()
            var outcomes = 0
            for try await outcome in tasks {
                guard case .stored(let build?, _) = outcome else { throw WriterError.unexpected("\(outcome)") }
                #expect(build.deliveryID != nil)
                outcomes += 1
            }
            #expect(outcomes == 26)
        }
        // The 20 on the first one's branch joined it once it held that lane; the 5 on
        // another branch waited for the next group.
        #expect(writer.groupSizes == [21, 5])
        #expect(writer.alone.isEmpty)
    }

    @Test func aGroupThatFailsIsWrittenAgainOneByOneSoOnlyTheFaultyDeliveryFails() async throws {
        let writer = RecordingWriter()
        writer.holdWrites()
        let groups = PostgresDeliveryGroups()
        let results = try await withThrowingTaskGroup(of: (String, Bool).self) { tasks in
            tasks.addTask { ("first", (try? await groups.submit(entry("first"), to: writer)) != nil) }
            try await writer.waitUntilWriting()
            for id in ["a", "bad", "b"] {
                tasks.addTask { (id, (try? await groups.submit(entry(id), to: writer)) != nil) }
            }
            try await writer.waitUntilWaiting(3, in: groups)
            writer.releaseWrites()
            return try await tasks.reduce(into: [String: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(results == ["first": true, "a": true, "bad": false, "b": true])
        #expect(writer.groupSizes == [4])
        #expect(writer.alone == ["first", "a", "bad", "b"])
    }

    @Test func anUnreachableDatabaseFailsTheWholeGroupWithoutWritingItAgain() async throws {
        let writer = RecordingWriter()
        writer.holdWrites()
        let groups = PostgresDeliveryGroups()
        let failures = try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask { (try? await groups.submit(entry("first"), to: writer)) == nil }
            try await writer.waitUntilWriting()
            for id in ["unreachable-1", "x", "y"] { tasks.addTask { (try? await groups.submit(entry(id), to: writer)) == nil } }
            try await writer.waitUntilWaiting(3, in: groups)
            writer.releaseWrites()
            return try await tasks.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 4)
        #expect(writer.alone.isEmpty)
    }

    @Test func aCallerCancelledWhileWaitingIsStillWrittenAndAnswered() async throws {
        let writer = RecordingWriter()
        writer.holdWrites()
        let groups = PostgresDeliveryGroups()
        let first = Task { try await groups.submit(entry("first"), to: writer) }
        try await writer.waitUntilWriting()
        let cancelled = Task { try await groups.submit(entry("cancelled"), to: writer) }
        try await writer.waitUntilWaiting(1, in: groups)
        cancelled.cancel()
        writer.releaseWrites()
        guard case .stored(let build?, _) = try await cancelled.value else { throw WriterError.unexpected("not stored") }
        #expect(build.deliveryID == "cancelled")
        _ = try await first.value
        #expect(writer.groupSizes == [2])
    }

    // MARK: - Helpers

    enum WriterError: Error { case unexpected(String), faulty, timedOut }

    func entry(_ id: String, ref: String = "refs/heads/main") -> DeliveryGroupPlan.Entry {
        DeliveryGroupPlan.Entry(
            delivery: DeliveryRecord(id: id, event: "push", repository: "acme/app", receivedAt: 1, result: .queued),
            request: BuildRequest(
                repository: "acme/app", ref: ref, sha: CommitID(String(repeating: "b", count: 40))!, cloneURL: nil,
                trigger: .push, deliveryID: id),
            supersedeOlder: true)
    }

    /// Answers each delivery with a build named after it; the deliveries waiting on the
    /// first one's lanes join its group once its writes are let through. A group holding
    /// "bad" fails, as does "bad" alone; one holding "unreachable-…" fails as an
    /// unreachable database does.
    final class RecordingWriter: DeliveryGroupWriter {
        private struct State {
            var held = false
            var writing = 0
            var groupSizes: [Int] = []
            var alone: [String] = []
        }
        private let state = Mutex(State())

        var groupSizes: [Int] { state.withLock { $0.groupSizes } }
        var alone: [String] { state.withLock { $0.alone } }
        func holdWrites() { state.withLock { $0.held = true } }
        func releaseWrites() { state.withLock { $0.held = false } }

        func waitUntilWriting() async throws {
            try await poll { self.state.withLock { $0.writing > 0 } }
        }

        func waitUntilWaiting(_ count: Int, in groups: PostgresDeliveryGroups) async throws {
            try await poll { groups.waitingCount == count }
        }

        private func poll(_ condition: @Sendable () -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(30)
            while !condition() {
                guard ContinuousClock.now < deadline else { throw WriterError.timedOut }
                try await Task.sleep(for: .milliseconds(2))
            }
        }

        func writeDeliveryGroup(
            _ first: [DeliveryGroupPlan.Entry], joining: @escaping @Sendable (Set<String>) -> [DeliveryGroupPlan.Entry]
        ) async throws -> [DeliveryOutcome] {
            state.withLock { $0.writing += 1 }
            while state.withLock({ $0.held }) { try await Task.sleep(for: .milliseconds(2)) }
            let entries = first + joining(Set(first.compactMap { $0.request?.lane }))
            state.withLock { $0.groupSizes.append(entries.count) }
            if entries.contains(where: { $0.delivery.id.hasPrefix("unreachable") }) {
                throw ConnectionWaitExpired(
                    location: PostgresLocation(user: "slipway", host: "127.0.0.1", database: "slipway", tls: .disable), limit: .seconds(5))
            }
            if entries.contains(where: { $0.delivery.id == "bad" }) { throw WriterError.faulty }
            return entries.map(outcome)
        }

        func recordDeliveryAlone(_ entry: DeliveryGroupPlan.Entry) async throws -> DeliveryOutcome {
            state.withLock { $0.alone.append(entry.delivery.id) }
            if entry.delivery.id == "bad" { throw WriterError.faulty }
            return outcome(entry)
        }

        private func outcome(_ entry: DeliveryGroupPlan.Entry) -> DeliveryOutcome {
            .stored(
                build: Build(
                    id: 1, repository: "acme/app", ref: "refs/heads/main", sha: entry.request!.sha, cloneURL: nil, trigger: .push,
                    deliveryID: entry.delivery.id, state: .queued, reason: nil, createdAt: 1, startedAt: nil, finishedAt: nil,
                    attempts: 0),
                superseded: [])
        }
    }
}
