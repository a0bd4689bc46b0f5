import Foundation
import SlipwayCore
import SlipwayStore
import SlipwayTesting
import Synchronization
import Testing

/// slipwayd under a service manager: socket activation across restarts, and sd_notify
/// (READY, RELOADING, STOPPING, WATCHDOG). systemd itself does not run here: the socket
/// is made and passed by `systemd-socket-activate` (Debian's systemd package), and kept
/// across restarts by a small supervisor script, as a `.socket` unit keeps it; the
/// notifications go to a datagram socket the test binds, as systemd's would.
@Suite struct ServiceManagerTests {
    static let deliveries = 1_000
    static let restarts = 3

    /// What a loop of deliveries met.
    struct LoopTally: CustomStringConvertible {
        var sent = 0
        var refused = 0
        /// Connections reset before any answer: taken into a listening socket that was then closed.
        var reset = 0
        /// Deliveries begun while a restart was under way (the test's own check that it tested something).
        var duringRestarts = 0
        var otherErrors: [String] = []
        var statuses: [Int: Int] = [:]
        var duplicates = 0
        /// The deliveries answered 2xx.
        var accepted: [String] = []
        var description: String {
            "sent \(sent) (\(duringRestarts) during restarts), refused \(refused), reset \(reset), 2xx \(accepted.count), "
                + "statuses \(statuses), duplicates \(duplicates), other errors "
                + "\(otherErrors.count) \(otherErrors.prefix(3))"
        }
    }

    enum DeliveryOutcome: Sendable {
        case refused
        case reset
        case failed(String)
        case answered(status: Int, duplicate: Bool)
    }

    /// One signed `ping` delivery on a connection of its own, as GitHub sends each;
    /// blocking (sockets with timeouts), so the loop leaves Swift's thread pool to the
    /// restarts beside it.
    static func deliverPing(port: Int, id: String) -> DeliveryOutcome {
        let body = Array(#"{"zen":"Keep it logically awesome.","hook_id":1,"repository":{"full_name":"acme/app"}}"#.utf8)
        let signature = WebhookSignature.sha256Header(body: body, secret: Array(TestSecrets.repository.utf8))
        let head =
            "POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
            + "X-GitHub-Event: ping\r\nX-GitHub-Delivery: \(id)\r\nX-Hub-Signature-256: \(signature)\r\n"
            + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let answer: String
        do {
            answer = try BlockingHTTP.exchange(port: port, request: Array(head.utf8) + body, timeout: .seconds(90))
        } catch is BlockingHTTP.ConnectRefused {
            return .refused
        } catch is BlockingHTTP.ResetBeforeAnswer {
            return .reset
        } catch {
            return .failed("\(id): \(error)")
        }
        guard answer.hasPrefix("HTTP/1.1 "), let status = Int(answer.dropFirst(9).prefix(3)) else {
            return .failed("\(id): no HTTP answer: \(answer.prefix(100).debugDescription)")
        }
        return .answered(status: status, duplicate: answer.contains("\"duplicate\""))
    }

    /// Sends `deliveries` deliveries one after another; after each quarter, `restart` runs
    /// beside the loop (the loop does not wait for it). A refused connection is not retried
    /// (GitHub does not either); the loop waits 10 ms and sends the next.
    static func deliveriesAcrossRestarts(port: Int, restart: @escaping @Sendable () async throws -> Void) async throws -> LoopTally {
        var tally = LoopTally()
        var restarting: [Task<Void, any Error>] = []
        let restartsUnderWay = SharedCount()
        let every = deliveries / (restarts + 1)
        for index in 1...deliveries {
            let id = "restart-\(index)-\(UUID().uuidString)"
            tally.sent += 1
            if restartsUnderWay.value > 0 { tally.duringRestarts += 1 }
            switch await blocking({ deliverPing(port: port, id: id) }) {
            case .refused:
                tally.refused += 1
                try await Task.sleep(for: .milliseconds(10))
            case .reset:
                tally.reset += 1
                tally.otherErrors.append("\(id): reset before any answer")
            case .failed(let problem):
                tally.otherErrors.append(problem)
            case .answered(let status, let duplicate):
                tally.statuses[status, default: 0] += 1
                if (200..<300).contains(status) { tally.accepted.append(id) }
                if duplicate { tally.duplicates += 1 }
            }
            if index % every == 0, restarting.count < restarts {
                // One restart at a time: the next waits for the one before.
                let previous = restarting.last
                restarting.append(
                    Task {
                        try await previous?.value
                        _ = restartsUnderWay.increment()
                        defer { restartsUnderWay.decrement() }
                        try await restart()
                    })
            }
        }
        for task in restarting { try await task.value }
        return tally
    }

    /// Every delivery answered 2xx is in the database once (a delivery id is the key; a
    /// second store of one would have been answered `duplicate`).
    static func expectStored(_ tally: LoopTally, databasePath: String) async throws {
        let store = try SQLiteBuildStore(path: databasePath)
        var missing: [String] = []
        for id in tally.accepted where try await store.delivery(id: id) == nil { missing.append(id) }
        #expect(missing.isEmpty, "answered 2xx but not stored: \(missing.prefix(5))")
        #expect(tally.duplicates == 0)
    }

    @Test func restartsOnThePassedSocketRefuseNoDelivery() async throws {
        let rig = try ActivatedDaemon(label: "socket-activation")
        defer { rig.remove() }
        try await rig.start()
        let tally = try await Self.deliveriesAcrossRestarts(port: rig.port) { try await rig.restart() }
        rig.stopAll()
        print("socket activation: \(tally); daemons run: \(rig.runs())")
        #expect(
            tally.sent == Self.deliveries && tally.refused == 0 && tally.reset == 0 && tally.otherErrors.isEmpty, "\(tally)\n\(rig.log())")
        #expect(tally.duringRestarts > 0, "deliveries were sent while slipwayd restarted: \(tally)")
        #expect(tally.accepted.count == Self.deliveries, "\(tally)")
        #expect(rig.runs() == Self.restarts + 1, "slipwayd was started \(rig.runs()) times")
        #expect(rig.log().contains("passed by the service manager (LISTEN_FDS)"))
        try await Self.expectStored(tally, databasePath: rig.databasePath)
    }

    /// The same loop against a daemon that binds its own port: between the old process
    /// closing the port and the new one binding it, connections are refused. This is what
    /// the test above would see if the socket were not passed.
    @Test func restartsOnItsOwnPortRefuseDeliveries() async throws {
        let daemon = try DaemonHarness(label: "own-port-restarts", environment: TestSecrets.environment) { port, state in
            testConfig(port: port, stateDirectory: state)
        }
        try await daemon.run { daemon in
            let tally = try await Self.deliveriesAcrossRestarts(port: daemon.port) {
                try await daemon.stop()
                try await daemon.start()
            }
            print("own port: \(tally)")
            #expect(tally.refused + tally.reset > 0, "a restart without socket activation refuses connections: \(tally)")
            #expect(tally.sent == Self.deliveries && tally.otherErrors.count == tally.reset, "\(tally)")
            #expect(tally.duringRestarts > 0, "deliveries were sent while slipwayd restarted: \(tally)")
            try await Self.expectStored(tally, databasePath: daemon.databasePath)
        }
    }

    @Test func theServiceManagerHearsReadyReloadingStoppingAndTheWatchdogOnlyWhileTheDatabaseAnswers() async throws {
        let scratch = try TestPaths.temporaryDirectory("notify")
        defer { TestPaths.removeTemporaryDirectory(scratch) }
        let socketPath = scratch.appendingPathComponent("notify.sock").path
        var environment = TestSecrets.environment
        environment["NOTIFY_SOCKET"] = socketPath
        environment["WATCHDOG_USEC"] = "2000000"   // WATCHDOG=1 every second
        let daemon = try DaemonHarness(label: "notify", environment: environment) { port, state in
            testConfig(port: port, stateDirectory: state)
        }
        let readyzAtReady = StatusRecord()
        let port = daemon.port
        let listener = try NotifySocketListener(path: socketPath) { message in
            // What /readyz answers the moment READY=1 arrives.
            guard message.fields["READY"] == "1" else { return }
            readyzAtReady.append((try? DaemonHarness.syncGet(port: port, path: "/readyz")) ?? -1)
        }
        defer { listener.stop() }
        try await daemon.run { daemon in
            try await eventually(timeout: .seconds(30)) { !listener.messages("READY").isEmpty }
            #expect(readyzAtReady.values.first == 200, "READY=1 only once /readyz answers 200: \(readyzAtReady.values)")
            #expect(listener.messages("READY").first?.fields["STATUS"]?.hasPrefix("serving on 127.0.0.1:") == true)

            // The watchdog, while the database answers: about one a second.
            try await Task.sleep(for: .seconds(5))
            let beats = listener.messages("WATCHDOG")
            #expect(beats.count >= 3, "WATCHDOG=1 at half of WATCHDOG_USEC: \(beats.count) in 5 s")
            let gaps = zip(beats.dropFirst(), beats).map { ($0.at - $1.at) / .milliseconds(1) }.sorted()
            let median = gaps.isEmpty ? 0 : gaps[gaps.count / 2]
            #expect(median >= 500 && median <= 2_000, "the median gap is half of WATCHDOG_USEC (1000 ms): \(gaps) ms")

            // The database made unavailable: another process holds SQLite's write lock.
            let lock = try SQLiteWriteLock(databasePath: daemon.databasePath)
            let locked = ContinuousClock.now
            try await Task.sleep(for: .seconds(5))
            let released = ContinuousClock.now
            lock.release()
            // A ping that began just before the lock may still answer: allow one round.
            let duringLock = listener.messages("WATCHDOG").filter { $0.at > locked + .milliseconds(1_500) && $0.at < released }
            #expect(duringLock.isEmpty, "no WATCHDOG=1 while the database cannot be written: \(duringLock.count)")
            try await eventually(timeout: .seconds(30)) {
                listener.messages("WATCHDOG").contains { $0.at > released }
            }
            #expect(daemon.daemonLog().contains("watchdog: the database does not answer"))

            // SIGHUP: RELOADING=1 (with the monotonic time systemd 253 wants), then READY=1 again.
            let readiesBefore = listener.messages("READY").count
            daemon.signal(SIGHUP)
            try await eventually(timeout: .seconds(30)) { listener.messages("READY").count > readiesBefore }
            let reloading = try #require(listener.messages("RELOADING").first)
            #expect(UInt64(reloading.fields["MONOTONIC_USEC"] ?? "") != nil, "\(reloading.text)")
            #expect(reloading.at <= listener.messages("READY").last!.at)

            try await daemon.stop()
            #expect(listener.messages("STOPPING").count == 1, "STOPPING=1 on SIGTERM")
            #expect(!daemon.daemonLog().contains("cannot notify the service manager"))
        }
    }
}

/// slipwayd started by `systemd-socket-activate` on a socket it made, through a supervisor
/// that keeps the socket (fd 3) and starts slipwayd again each time it exits, as systemd
/// does for a service with a `.socket` unit: SIGTERM to slipwayd is a restart.
final class ActivatedDaemon: @unchecked Sendable {
    let directory: URL
    let port: Int
    let configPath: String
    var databasePath: String { directory.path + "/state/slipway.sqlite" }
    private var activator: ChildProcess?

    /// The supervisor: $1 its directory, then slipwayd's argv. Each run's pid in `pid`,
    /// each exit in `runs`; it ends when the file `stop` exists.
    static let supervisor = """
        dir=$1; shift
        while [ ! -e "$dir/stop" ]; do
            sh -c 'echo $$ > "$0/pid.new" && mv "$0/pid.new" "$0/pid"; LISTEN_PID=$$; export LISTEN_PID; exec "$@"' "$dir" "$@" \
                >> "$dir/slipwayd.log" 2>&1
            echo "exit $?" >> "$dir/runs"
            sleep 0.1   # RestartSec=
        done
        """

    init(label: String) throws {
        directory = try TestPaths.temporaryDirectory(label)
        port = freeLoopbackPort()
        configPath = directory.path + "/slipway.yaml"
        try testConfig(port: port, stateDirectory: directory.path + "/state").write(toFile: configPath, atomically: true, encoding: .utf8)
        try Self.supervisor.write(toFile: directory.path + "/supervise.sh", atomically: true, encoding: .utf8)
    }

    /// Starts the activator and slipwayd behind it (the activator starts its program at the
    /// first connection: the first /readyz), and waits until it answers.
    func start() async throws {
        var environment = TestSecrets.environment
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.path + "/slipwayd.log", isDirectory: false).creating())
        defer { try? log.close() }
        // The activator gives its program only the variables named with --setenv.
        activator = try ChildProcess(
            "/usr/bin/systemd-socket-activate",
            ["--listen=127.0.0.1:\(port)"] + environment.keys.sorted().map { "--setenv=\($0)" } + [
                "/bin/sh", directory.path + "/supervise.sh", directory.path,
                try TestPaths.executable("slipwayd").path, "--config", configPath,
            ],
            environment: environment, directory: directory, standardOutput: log.fileDescriptor, standardError: log.fileDescriptor)
        try await eventually(timeout: .seconds(90)) {
            guard self.activator?.isRunning == true else { throw HarnessError("systemd-socket-activate exited:\n\(self.log())") }
            return (try? DaemonHarness.syncGet(port: self.port, path: "/readyz")) == 200
        }
    }

    var currentPID: Int32? {
        (try? String(contentsOfFile: directory.path + "/pid", encoding: .utf8)).flatMap {
            Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// SIGTERM to slipwayd, as `systemctl restart` sends; returns once it has exited and
    /// the supervisor has started the next one.
    func restart() async throws {
        let old = try #require(currentPID)
        kill(old, SIGTERM)
        try await eventually(timeout: .seconds(60)) { kill(old, 0) != 0 && self.currentPID != old }
    }

    func runs() -> Int {
        ((try? String(contentsOfFile: directory.path + "/runs", encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    func log() -> String { (try? String(contentsOfFile: directory.path + "/slipwayd.log", encoding: .utf8)) ?? "" }

    /// Stops the supervisor's loop and the running slipwayd, and waits for both.
    func stopAll() {
        _ = FileManager.default.createFile(atPath: directory.path + "/stop", contents: nil)
        if let pid = currentPID { kill(pid, SIGTERM) }
        _ = activator?.wait(timeout: 60)
    }

    func remove() {
        stopAll()
        if let pid = currentPID { kill(pid, SIGKILL) }
        activator?.stop(with: SIGKILL, grace: 1)
        TestPaths.removeTemporaryDirectory(directory)
    }
}

/// Holds SQLite's write lock on a database from another process (python3's sqlite3:
/// `BEGIN EXCLUSIVE`) until released, so the daemon's writes wait.
final class SQLiteWriteLock: @unchecked Sendable {
    private let process: ChildProcess
    private let releaseDescriptor: Int32

    init(databasePath: String) throws {
        let (reading, writing) = try closeOnExecPipe()
        let ready = try closeOnExecPipe()
        releaseDescriptor = writing
        let script = """
            import sqlite3, sys, os
            db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
            db.execute("BEGIN EXCLUSIVE")
            os.write(1, b"locked\\n")
            sys.stdin.read()
            db.execute("ROLLBACK")
            """
        process = try ChildProcess(
            "/usr/bin/python3", ["-c", script, databasePath], standardInput: reading, standardOutput: ready.writing)
        close(reading)
        close(ready.writing)
        var byte: UInt8 = 0
        let got = read(ready.reading, &byte, 1)
        close(ready.reading)
        guard got == 1 else { throw HarnessError("python3 could not lock \(databasePath)") }
    }

    func release() {
        close(releaseDescriptor)
        _ = process.wait(timeout: 30)
    }
}

/// Statuses recorded from another thread.
final class StatusRecord: Sendable {
    private let record = Mutex<[Int]>([])
    func append(_ status: Int) { record.withLock { $0.append(status) } }
    var values: [Int] { record.withLock { $0 } }
}

extension URL {
    /// This file, created empty when missing.
    fileprivate func creating() -> URL {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        return self
    }
}
