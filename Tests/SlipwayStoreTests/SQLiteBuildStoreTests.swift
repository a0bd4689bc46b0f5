import Foundation
import GRDB
import SlipwayCore
import SlipwayTesting
import Testing

@testable import SlipwayStore

/// The SQLite store on a real database file in its own temporary directory, removed
/// when the test is done (each test has its own instance of the suite).
@Suite struct SQLiteBuildStoreTests {
    let scratch: TemporaryDirectory
    let store: SQLiteBuildStore
    var directory: URL { scratch.url }

    init() throws {
        scratch = try TemporaryDirectory("store")
        store = try SQLiteBuildStore(path: scratch.url.appendingPathComponent("slipway.sqlite").path)
    }

    /// `sha`: a label ("a1"); the commit id is made from it, one id per label.
    func request(_ ref: String = "refs/heads/main", sha: String = "a1", delivery: String? = nil, repository: String = "acme/app")
        -> BuildRequest
    {
        BuildRequest(repository: repository, ref: ref, sha: Self.commit(sha), cloneURL: nil, trigger: .push, deliveryID: delivery)
    }

    static func commit(_ label: String) -> CommitID { CommitID(Crypto.sha256(Array(label.utf8)).hexString.prefix(40))! }

    func delivery(_ id: String) -> DeliveryRecord {
        DeliveryRecord(id: id, event: "push", repository: "acme/app", receivedAt: Date().timeIntervalSince1970, result: .queued)
    }

    @Test func aDeliveryWhoseWriteFailsFailsAloneAndLeavesNothingBehind() async throws {
        // A real failure inside SQLite, halfway through one delivery's write (after its
        // delivery row): a trigger refuses that delivery's build.
        let other = try DatabaseQueue(path: store.path)
        try await other.write { db in
            try db.execute(
                sql: """
                    CREATE TRIGGER refuse_poison BEFORE INSERT ON build WHEN NEW.sha = '\(Self.commit("poison").hex)'
                    BEGIN SELECT RAISE(ABORT, 'poisoned build'); END
                    """)
        }
        try other.close()
        let outcomes = await withTaskGroup(of: (String, Result<DeliveryOutcome, any Error>).self) { group in
            for n in 0..<40 {
                let id = "d-\(n)"
                let sha = n == 17 ? "poison" : "sha-\(n)"
                group.addTask {
                    do {
                        let build = request("refs/heads/b\(n)", sha: sha, delivery: id)
                        return (id, .success(try await store.recordDelivery(delivery(id), build: build, supersedeOlder: true)))
                    } catch {
                        return (id, .failure(error))
                    }
                }
            }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for (id, outcome) in outcomes where id != "d-17" {
            guard case .success(.stored(let build?, _)) = outcome else { Issue.record("\(id): \(outcome)"); continue }
            #expect(try await store.delivery(id: id)?.buildID == build.id)
        }
        guard case .failure(let error) = outcomes["d-17"] else { Issue.record("the poisoned delivery was stored"); return }
        #expect("\(error)".contains("poisoned build"))
        #expect(try await store.delivery(id: "d-17") == nil)
        #expect(try await store.builds(BuildFilter(limit: 1000)).count == 39)
    }

    @Test func aBurstOnOneBranchLeavesOneStatusRowPerSupersededBuild() async throws {
        // The writer is held while 10 pushes to one branch arrive, so they are written in
        // few transactions (two, on a quiet machine; three were seen under load). Within
        // one, a build superseded by the next push has its pending row rewritten to the
        // superseded status: never both. Written one by one, they would leave 19 rows.
        let held = Task { try await store.pool.write { _ in Thread.sleep(forTimeInterval: 0.3) } }
        try await Task.sleep(for: .milliseconds(50))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<10 {
                group.addTask {
                    _ = try await store.recordDelivery(
                        delivery("burst-\(n)"), build: request(sha: "s\(n)", delivery: "burst-\(n)"),
                        supersedeOlder: true)
                }
            }
            try await group.waitForAll()
        }
        try await held.value
        let rows = try await store.openStatuses(limit: 100)
        let builds = try await store.builds(BuildFilter(limit: 100)).sorted { $0.id < $1.id }
        #expect(builds.count == 10 && builds.dropLast().allSatisfy { $0.state == .superseded } && builds.last?.state == .queued)
        #expect((10...18).contains(rows.count), "\(rows.map { "\($0.buildID) \($0.status.state)" })")
        for build in builds {
            #expect(rows.filter { $0.buildID == build.id }.count <= 2, "build \(build.id): one pending row at most, then its end")
            let last = rows.last { $0.buildID == build.id }
            if build.id == builds.last?.id {
                #expect(last?.status == CommitStatus(state: .pending, description: "queued"))
            } else {
                #expect(last?.status == CommitStatus(state: .error, description: "superseded by build #\(build.id + 1)"))
            }
        }
    }

    /// A group reads a lane's queued builds once and then knows them: a build queued
    /// before the group and each build of the group but the newest end superseded; a
    /// tag in the same group, which supersedes nothing, and another branch stay queued.
    @Test func aGroupSupersedesWhatWasQueuedBeforeItAndWithinIt() async throws {
        let before = try await store.enqueue(request(sha: "old"), supersedeOlder: true)
        let held = Task { try await store.pool.write { _ in Thread.sleep(forTimeInterval: 0.3) } }
        try await Task.sleep(for: .milliseconds(50))
        let pushes =
            [("refs/heads/main", "m1"), ("refs/tags/v1", "t1"), ("refs/heads/main", "m2"), ("refs/heads/other", "o1")]
            + [("refs/heads/main", "m3")]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (ref, sha) in pushes {
                group.addTask {
                    _ = try await store.recordDelivery(delivery(sha), build: request(ref, sha: sha, delivery: sha), supersedeOlder: true)
                }
            }
            try await group.waitForAll()
        }
        try await held.value
        let builds = try await store.builds(BuildFilter(limit: 100))
        func state(_ label: String) -> BuildState? { builds.first { $0.sha == Self.commit(label) }?.state }
        #expect(try await store.build(id: before.id)?.state == .superseded)
        let newest = try #require(builds.filter { $0.ref == "refs/heads/main" }.max { $0.id < $1.id })
        for build in builds where build.ref == "refs/heads/main" && build.id != newest.id {
            #expect(build.state == .superseded, "build \(build.id) \(build.sha.short)")
        }
        #expect(newest.state == .queued)
        #expect(state("t1") == .queued && state("o1") == .queued)
    }

    /// The writer leaves checkpoints to WALCheckpointer: far below the writer's own limit,
    /// the `commitsPerPass`-th commit has the log copied into the database file (which
    /// only a checkpoint writes to in WAL mode); fewer commits leave the file alone.
    @Test func theLogIsCopiedIntoTheDatabaseFileInTheBackground() async throws {
        let file = directory.appendingPathComponent("slipway.sqlite").path
        func size(_ path: String) throws -> Int { try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0 }
        func deliver(_ range: Range<Int>) async throws {
            for index in range {
                _ = try await store.recordDelivery(
                    delivery("d-\(index)"), build: request("refs/heads/b\(index)", delivery: "d-\(index)"),
                    supersedeOlder: true)
            }
        }
        let before = try size(file)
        let half = WALCheckpointer.commitsPerPass / 2
        try await deliver(0..<half)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try size(file) == before)
        try await deliver(half..<WALCheckpointer.commitsPerPass)
        let logPages = try size(file + "-wal") / 4096
        #expect(logPages < WALCheckpointer.writerLimit / 4, "the log holds \(logPages) pages")
        let deadline = ContinuousClock.now + .seconds(10)
        while try size(file) == before, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let after = try size(file)
        #expect(after > before, "the database file stayed at \(before) bytes")
    }

    @Test func textsAreStoredWhole() async throws {
        // A repository name read from a payload may hold any Unicode, even a NUL. (The NUL
        // is checked in the file itself: GRDB reads a text back only up to a NUL.)
        let name = "acme/a\u{0}pp-ünï 🚀"
        let odd = DeliveryRecord(id: "d-odd", event: "push", repository: name, receivedAt: 1, result: .ignored(reason: "🚀 not configured"))
        _ = try await store.recordDelivery(odd, build: nil, supersedeOlder: true)
        #expect(try await store.delivery(id: "d-odd")?.result == odd.result)
        let file = try DatabaseQueue(path: store.path)
        let stored = try await file.read { db in try String.fetchOne(db, sql: "SELECT hex(repository) FROM delivery WHERE id = 'd-odd'") }
        try file.close()
        #expect(stored == Array(name.utf8).map { String(format: "%02X", $0) }.joined())
        let build = try await store.recordDelivery(
            delivery("d-built"), build: request("refs/heads/ünï-🚀", delivery: "d-built"), supersedeOlder: true)
        guard case .stored(let queued?, _) = build else { Issue.record("\(build)"); return }
        #expect(try await store.build(id: queued.id)?.ref == "refs/heads/ünï-🚀")
    }

    /// A value no version writes (a hand-edited or corrupt database) is an error naming the
    /// row, never read as another value (a build of unknown state as `error`, say).
    @Test func unreadableStoredValuesAreErrorsNamingTheirRow() async throws {
        let build = try await store.enqueue(request(), supersedeOlder: false)
        _ = try await store.recordDelivery(delivery("d-bad"), build: nil, supersedeOlder: false)
        try await store.recordStepStart(buildID: build.id, attempt: 1, name: "test", fence: 0)
        let file = try DatabaseQueue(path: store.path)
        try await file.write { db in
            try db.execute(sql: "UPDATE build SET state = 'bogus' WHERE id = ?", arguments: [build.id])
            try db.execute(sql: "UPDATE delivery SET result = 'maybe' WHERE id = 'd-bad'")
            try db.execute(sql: "UPDATE build_step SET state = 'half' WHERE build_id = ?", arguments: [build.id])
            try db.execute(sql: "UPDATE status_outbox SET sha = 'not-a-sha' WHERE build_id = ?", arguments: [build.id])
        }
        try file.close()
        func expectUnreadable(_ what: String, table: String, column: String, _ read: () async throws -> Void) async {
            do {
                try await read()
                Issue.record("\(what): the bad value was read")
            } catch let error as StoredValueError {
                #expect(error.table == table && error.column == column, "\(what): \(error)")
            } catch {
                Issue.record("\(what): \(error)")
            }
        }
        await expectUnreadable("build", table: "build", column: "state") { _ = try await store.build(id: build.id) }
        await expectUnreadable("builds", table: "build", column: "state") { _ = try await store.builds(BuildFilter()) }
        await expectUnreadable("counts", table: "build", column: "state") { _ = try await store.countByState() }
        await expectUnreadable("delivery", table: "delivery", column: "result") { _ = try await store.delivery(id: "d-bad") }
        await expectUnreadable("steps", table: "build_step", column: "state") { _ = try await store.steps(buildID: build.id) }
        await expectUnreadable("outbox", table: "status_outbox", column: "sha") { _ = try await store.openStatuses(limit: 10) }
        do {
            _ = try await store.build(id: build.id)
        } catch {
            #expect("\(error)".contains("build row \(build.id), column state: 'bogus'"), "\(error)")
        }
    }

    @Test func dataSurvivesReopeningTheFile() async throws {
        let build = try await store.enqueue(request(), supersedeOlder: true)
        let reopened = try SQLiteBuildStore(path: store.path)
        #expect(try await reopened.build(id: build.id) == build)
    }

}
