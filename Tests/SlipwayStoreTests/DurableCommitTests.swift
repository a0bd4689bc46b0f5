import Foundation
import GRDB
import SlipwayCore
import SlipwayTesting
import Synchronization
import Testing

@testable import SlipwayStore

/// The writer commits without syncing (`synchronous = NORMAL`) and `WALSyncer` syncs the
/// log for it: these tests hold or fail that sync and look at what the store's callers
/// are told meanwhile. The real fdatasync runs whenever the gate lets a sync through.
@Suite struct DurableCommitTests {
    let scratch: TemporaryDirectory
    let gate = SyncGate()
    let store: SQLiteBuildStore

    init() throws {
        scratch = try TemporaryDirectory("durable")
        store = SQLiteBuildStore(
            database: try SQLiteDatabase(path: scratch.url.appendingPathComponent("slipway.sqlite").path, sync: gate.sync))
    }

    func request(_ ref: String, delivery: String? = nil) -> BuildRequest {
        let sha = CommitID(Crypto.sha256(Array(ref.utf8)).hexString.prefix(40))!
        return BuildRequest(repository: "acme/app", ref: ref, sha: sha, cloneURL: nil, trigger: .push, deliveryID: delivery)
    }

    func delivery(_ id: String) -> DeliveryRecord {
        DeliveryRecord(id: id, event: "push", repository: "acme/app", receivedAt: Date().timeIntervalSince1970, result: .queued)
    }

    func storedBuilds() async throws -> Int {
        try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM build") ?? 0 }
    }

    /// While the sync is held, deliveries and a build asked for by an operator are
    /// committed (a reader sees them: at least the first group, one more group while its
    /// sync waits, and however many more a busy machine spreads them over) but none of
    /// their callers returns; all return once the log is synced.
    @Test func noWriteReturnsBeforeItsCommitIsDurable() async throws {
        gate.hold()
        let returned = Returned()
        let calls = (1...8).map { n in
            Task {
                _ = try await store.recordDelivery(
                    delivery("d-\(n)"), build: request("refs/heads/b\(n)", delivery: "d-\(n)"), supersedeOlder: true)
                returned.add("d-\(n)")
            }
        }
        let enqueue = Task {
            _ = try await store.enqueue(request("refs/heads/operator"), supersedeOlder: true)
            returned.add("enqueue")
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while try await storedBuilds() == 0 || gate.blocked == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(gate.blocked == 1, "no sync was held")
        try await Task.sleep(for: .milliseconds(200))
        let committed = try await storedBuilds()
        #expect(committed >= 1, "nothing was committed while the sync was held")
        #expect(returned.names.isEmpty, "returned before durable (\(committed) builds committed): \(returned.names)")

        gate.release()
        for call in calls { try await call.value }
        try await enqueue.value
        #expect(returned.names.count == 9)
        #expect(try await storedBuilds() == 9)
        #expect(gate.calls >= 1)
    }

    /// While a sync runs, one more group is written (the next sync covers it); the
    /// deliveries that come after it form the group after, which is written once a sync
    /// has started on the one before (written sooner, it would only wait for that same
    /// sync, with fewer deliveries in it).
    @Test func oneGroupIsWrittenPerSyncWhileTheOthersForm() async throws {
        gate.hold()
        func visible(_ ref: String) async throws -> Bool {
            try await store.pool.read { db in
                try Bool.fetchOne(db, sql: "SELECT count(*) > 0 FROM build WHERE ref = ?", arguments: [ref]) ?? false
            }
        }
        func deliver(_ name: String) -> Task<Void, any Error> {
            Task {
                _ = try await store.recordDelivery(
                    delivery(name), build: request("refs/heads/\(name)", delivery: name), supersedeOlder: true)
            }
        }
        func waitUntil(_ condition: () async throws -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(30)
            while try await !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        }
        let first = deliver("first")
        try await waitUntil { try await visible("refs/heads/first") && gate.blocked == 1 }
        #expect(gate.blocked == 1, "a sync has started on the first group and is held")
        let second = deliver("second")
        try await waitUntil { try await visible("refs/heads/second") }
        #expect(try await visible("refs/heads/second"), "written while the first group's sync runs")
        let third = deliver("third")
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await !visible("refs/heads/third"), "written before a sync started on the second group")

        gate.release()
        for call in [first, second, third] { try await call.value }
        #expect(try await visible("refs/heads/third"))
    }

    /// A failed fdatasync is final: the caller gets the failure instead of a success,
    /// the store names it as its write problem (deliveries get 503, `/readyz` fails), and
    /// later writes fail too, although a later sync might succeed.
    @Test func aFailedSyncFailsItsCallersAndEveryLaterWrite() async throws {
        gate.fail(with: EIO)
        await #expect(throws: WALSyncer.SyncFailed.self) {
            try await store.recordDelivery(delivery("d-1"), build: request("refs/heads/main", delivery: "d-1"), supersedeOlder: true)
        }
        let problem = try #require(store.writeProblem)
        #expect(problem.contains("could not be made durable"), "\(problem)")
        #expect(problem.contains("slipway.sqlite-wal"), "\(problem)")

        gate.fail(with: 0)
        await #expect(throws: WALSyncer.SyncFailed.self) { try await store.enqueue(request("refs/heads/later"), supersedeOlder: true) }
        await #expect(throws: StoreError.self) { try await store.ping() }
    }

    /// The writer itself does not sync (that is the syncer's work, off the write path).
    @Test func theWriterCommitsWithoutSyncing() async throws {
        let level = try await store.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(level == 1, "PRAGMA synchronous is \(level.map(String.init) ?? "nil"), not NORMAL (1)")
    }
}

/// Which calls have returned.
final class Returned: Sendable {
    private let list = Mutex<[String]>([])
    var names: [String] { list.withLock { $0 } }
    func add(_ name: String) { list.withLock { $0.append(name) } }
}
