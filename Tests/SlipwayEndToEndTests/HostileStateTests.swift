import Foundation
import GRDB
import SlipwayCore
import SlipwayStore
import SlipwayTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 15: faults of the daemon's own state — a second daemon on it, its port taken, its
/// disk full, its database removed under it.
@Suite struct HostileStateTests {
    @Test func aSecondDaemonOnTheSameStateDirIsRefusedBeforeItTouchesAnything() async throws {
        _ = await blocking { TestRepository.shared }
        let gate = try TestPaths.temporaryDirectory("second-daemon-gate")
        defer { TestPaths.removeTemporaryDirectory(gate) }
        try await gatedDaemon("first", gate: gate).run { daemon in
            let id = try #require(
                daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: TestSecrets.repository)))
            try await eventually { try await daemon.openStore().build(id: id)?.state == .running }
            // The same config, the same state_dir: refused, naming both; nothing of the first's touched.
            let second = try await blocking {
                try runProgram(
                    try TestPaths.executable("slipwayd").path, ["--config", daemon.configPath],
                    environment: daemon.environment.merging(["PATH": "/usr/bin:/bin"]) { $1 })
            }
            #expect(second.status == 1)
            #expect(
                second.output.contains("state_dir \(daemon.stateDirectory) is in use by another slipwayd (pid \(daemon.processID ?? -1))"),
                "\(second.output)")
            #expect(!second.output.contains("killed processes"))
            _ = FileManager.default.createFile(atPath: gate.appendingPathComponent("GO").path, contents: nil)
            let build = try await daemon.waitForEnd(of: id, timeout: .seconds(60))
            #expect(build.state == .success && build.attempts == 1, "\(build.state) \(build.reason ?? "") attempts \(build.attempts)")
            #expect(!daemon.daemonLog().contains("killed processes left by interrupted builds"))
        }
    }

    @Test func aTakenListenAddressIsNamedBeforeAnythingStarts() async throws {
        let first = try DaemonHarness(label: "port-first", environment: TestSecrets.environment) { port, state in
            testConfig(port: port, stateDirectory: state)
        }
        try await first.run { first in
            // Another state_dir, the same port.
            let other = try TestPaths.temporaryDirectory("port-second")
            defer { TestPaths.removeTemporaryDirectory(other) }
            let config = other.appendingPathComponent("slipway.yaml").path
            try testConfig(port: first.port, stateDirectory: other.appendingPathComponent("state").path).write(
                toFile: config, atomically: true, encoding: .utf8)
            let second = try await blocking {
                try runProgram(
                    try TestPaths.executable("slipwayd").path, ["--config", config],
                    environment: TestSecrets.environment.merging(["PATH": "/usr/bin:/bin"]) { $1 })
            }
            #expect(second.status == 1)
            #expect(second.output.contains("cannot listen on 127.0.0.1:\(first.port)"), "\(second.output)")
            #expect(!second.output.contains("starting"), "it stopped before starting its services")
        }
        // A unix socket another daemon accepts on is not taken over.
        let socketDirectory = try TestPaths.temporaryDirectory("socket")
        defer { TestPaths.removeTemporaryDirectory(socketDirectory) }
        let socket = socketDirectory.appendingPathComponent("s.sock").path
        func unixConfig(_ state: String) -> String {
            testConfig(port: 1, stateDirectory: state)
                .replacingOccurrences(
                    of: "listen: 127.0.0.1:1\n  public_url: http://127.0.0.1:1",
                    with: "listen: unix:\(socket)\n  public_url: http://slipway.invalid")
        }
        let owner = try TestPaths.temporaryDirectory("socket-owner")
        defer { TestPaths.removeTemporaryDirectory(owner) }
        try unixConfig(owner.appendingPathComponent("state").path).write(toFile: owner.path + "/c.yaml", atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            try TestPaths.executable("slipwayd").path, ["--config", owner.path + "/c.yaml"],
            environment: TestSecrets.environment.merging(["PATH": "/usr/bin:/bin"]) { $1 })
        defer { process.stop() }
        try await eventually { FileManager.default.fileExists(atPath: socket) }
        try await Task.sleep(for: .milliseconds(300))
        let intruder = try TestPaths.temporaryDirectory("socket-intruder")
        defer { TestPaths.removeTemporaryDirectory(intruder) }
        try unixConfig(intruder.appendingPathComponent("state").path).write(
            toFile: intruder.path + "/c.yaml", atomically: true, encoding: .utf8)
        // (timeout: a daemon that takes the socket over keeps running; the test must still end.)
        let refused = try await blocking {
            try runProgram(
                "/usr/bin/timeout", ["60", try TestPaths.executable("slipwayd").path, "--config", intruder.path + "/c.yaml"],
                environment: TestSecrets.environment.merging(["PATH": "/usr/bin:/bin"]) { $1 })
        }
        #expect(
            refused.status == 1 && refused.output.contains("cannot listen on unix:\(socket): another process accepts connections on it"),
            "\(refused.output)")
        #expect(process.isRunning)
    }

    /// A full disk mid-build: the build's end is kept until it can be written, the daemon
    /// says it is not ready and refuses deliveries (503) meanwhile, and recovers without a
    /// restart once space is back. The state_dir is a small tmpfs of the test's (root).
    @Test func aFullDiskMidBuildIsRetriedReportedAndRecoveredFrom() async throws {
        #expect(getuid() == 0, "mounting a small file system for the state_dir needs root")
        guard getuid() == 0 else { return }
        _ = await blocking { TestRepository.shared }
        let gate = try TestPaths.temporaryDirectory("full-disk-gate")
        defer { TestPaths.removeTemporaryDirectory(gate) }
        let daemon = try gatedDaemon("full-disk", gate: gate)
        try FileManager.default.createDirectory(atPath: daemon.stateDirectory, withIntermediateDirectories: true)
        let mounted = try runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", daemon.stateDirectory])
        try #require(mounted.status == 0, "\(mounted.output)")
        defer {
            _ = try? runProgram("/bin/umount", ["-l", daemon.stateDirectory])
            // Only now: the daemon's shutdown could not remove the mount point.
            TestPaths.removeTemporaryDirectory(daemon.directory)
        }
        let filler = daemon.stateDirectory + "/filler"
        try await daemon.run { daemon in
            let store = try daemon.openStore()   // now: opening it (a migration check) writes
            let id = try #require(
                daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: TestSecrets.repository)))
            // The test step runs (the checkout, which needs space, is done).
            try await eventually { try await store.steps(buildID: id).contains { $0.name == "test" && $0.state == .running } }
            // Empty the WAL, so the next commit needs new blocks, then take every block left.
            let database = daemon.databasePath
            try await blocking {
                try DatabaseQueue(path: database).writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            }
            fillDisk(at: filler)
            _ = FileManager.default.createFile(atPath: gate.appendingPathComponent("GO").path, contents: nil)
            // The step ends; recording that fails, and is retried.
            try await eventually { daemon.daemonLog().contains("cannot store; retrying") }
            try await eventually { try await daemon.get("/readyz").status == 503 }
            let refused = try await daemon.deliver(event: "push", payload: pushPayload(branch: "other"), secret: TestSecrets.repository)
            #expect(refused.status == 503, "\(refused.text)")
            #expect(try await store.build(id: id)?.state == .running, "its end is not written yet")
            // Space is back: the end is written, the daemon is ready, a new push is built.
            try FileManager.default.removeItem(atPath: filler)
            let ended = try await daemon.waitForEnd(of: id, timeout: .seconds(60))
            #expect(ended.state == .success, "\(ended.reason ?? "")")
            try await eventually { try await daemon.get("/readyz").status == 200 }
            let next = try #require(
                daemon.buildID(
                    of: try await daemon.deliver(event: "push", payload: pushPayload(branch: "other"), secret: TestSecrets.repository)))
            #expect(try await daemon.waitForEnd(of: next, timeout: .seconds(60)).state == .success)
            let log = daemon.daemonLog()
            #expect(log.contains("delivery refused: cannot store it"), "every 5xx is logged with its cause")
            #expect(log.contains("stored after the store failed"))
        }
    }

    @Test func aDatabaseRemovedUnderTheDaemonIsNoticed() async throws {
        try await withDaemon("removed-db") { daemon in
            #expect(try await daemon.get("/readyz").status == 200)
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: daemon.databasePath + suffix) }
            try await eventually { try await daemon.get("/readyz").status == 503 }
            let reply = try await daemon.deliver(event: "push", payload: pushPayload(), secret: TestSecrets.repository)
            #expect(reply.status == 503, "never a 202 for a delivery written to a removed file: \(reply.text)")
            #expect(daemon.daemonLog().contains("was removed or replaced while the daemon runs"))
        }
    }
}

/// Writes zeros at `path` until the file system is full.
func fillDisk(at path: String) {
    _ = FileManager.default.createFile(atPath: path, contents: nil)
    guard let handle = FileHandle(forWritingAtPath: path) else { return }
    defer { try? handle.close() }
    let block = Data(count: 64 * 1024)
    while (try? handle.write(contentsOf: block)) != nil {}
    let small = Data(count: 512)
    while (try? handle.write(contentsOf: small)) != nil {}
    try? handle.synchronize()
}
