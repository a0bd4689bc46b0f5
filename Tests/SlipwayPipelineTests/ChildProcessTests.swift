import Foundation
import SlipwayTesting
import Testing

/// The harness's own way of starting programs (`ChildProcess`): what a child gets, and
/// that its end is seen whatever other children do.
@Suite struct ChildProcessTests {
    /// A child gets its three streams and nothing else the test process holds open,
    /// default signal handling and an empty mask: the test process blocks and ignores
    /// signals of its own, and Foundation's `Process` let a server started beside a
    /// `psql` inherit the socket that was to tell that psql had ended.
    @Test func aChildGetsOnlyItsStreamsAndDefaultSignals() async throws {
        let leaked = try closeOnExecPipe()
        let inherited = dup(leaked.writing)   // dup: not closed on exec, as a careless library's
        defer { for descriptor in [leaked.reading, leaked.writing, inherited] { close(descriptor) } }
        let saved = signal(SIGUSR2, SIG_IGN)
        defer { signal(SIGUSR2, saved) }

        let child = try ChildProcess("/bin/sleep", ["30"])
        defer { child.stop() }
        // Right after exec the dynamic loader may hold a file of its own open (the library
        // cache, libc) for a moment, longer on a busy machine; an inherited descriptor
        // stays open for good.
        let deadline = ContinuousClock.now + .seconds(20)
        var descriptors: [String] = []
        repeat {
            descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(child.processIdentifier)/fd").sorted()
            if descriptors == ["0", "1", "2"] { break }
            try await Task.sleep(for: .milliseconds(20))
        } while ContinuousClock.now < deadline
        #expect(descriptors == ["0", "1", "2"])
        let status = try String(contentsOfFile: "/proc/\(child.processIdentifier)/status", encoding: .utf8)
        // Signals 1 to 31 (glibc keeps 32 and 33 for itself).
        for field in ["SigBlk", "SigIgn"] {
            let value = status.split(separator: "\n").first { $0.hasPrefix(field + ":") }?.split(separator: "\t").last
            let mask = value.flatMap { UInt64($0, radix: 16) }
            #expect(mask.map { $0 & 0x7fff_ffff } == 0, "\(field): \(value ?? "none")")
        }
        #expect(getpgid(child.processIdentifier) == child.processIdentifier)
    }

    /// The end of a short program is seen while long-lived ones, started from other
    /// threads in the same instants, keep running: 40 of each, interleaved (a short one
    /// not seen to end within 30 s fails).
    @Test func shortChildrenEndWhileLongOnesStartedBesideThemRun() async throws {
        let sleepers = try await withThrowingTaskGroup(of: ChildProcess?.self) { group in
            for index in 0..<80 {
                group.addTask {
                    try await blocking {
                        if index.isMultiple(of: 2) { return try ChildProcess("/bin/sleep", ["60"]) }
                        let result = try runProgram("/bin/sh", ["-c", "echo \(index)"], timeout: 30)
                        guard result.status == 0, result.output == "\(index)\n" else {
                            throw HarnessError("child \(index): \(result)")
                        }
                        return nil
                    }
                }
            }
            return try await group.reduce(into: [ChildProcess]()) { if let child = $1 { $0.append(child) } }
        }
        defer { for sleeper in sleepers { sleeper.stop(grace: 1) } }
        #expect(sleepers.count == 40 && sleepers.allSatisfy(\.isRunning))
    }

    @Test func exitCodesSignalsAndAGivenUpWaitAreReported() async throws {
        #expect(try runProgram("/bin/sh", ["-c", "exit 3"]).status == 3)
        let killed = try ChildProcess("/bin/sleep", ["30"])
        killed.send(SIGKILL)
        #expect(killed.wait(timeout: 10) == .signalled(SIGKILL))
        #expect(killed.status == SIGKILL && !killed.isRunning)
        let slow = try runProgram("/bin/sleep", ["30"], timeout: 0.2)
        #expect(slow.status == -1)
        #expect(throws: HarnessError.self) { try ChildProcess("/nonexistent/program", []) }
    }
}
