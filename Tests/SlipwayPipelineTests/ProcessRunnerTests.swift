import SlipwayPipeline
import SlipwayTesting
import Testing

/// ProcessRunner with real child processes. The timeouts are only a net: what is checked
/// is how each child ended, and on a busy machine (the whole suite beside stress-ng) the
/// test process can take tens of seconds to handle a child's end.
@Suite struct ProcessRunnerTests {
    @Test func aChildThatClosesItsOutputBeforeExitingEndsOnItsOwn() async throws {
        // Its output ends 0.3 s before it exits (as coreutils close theirs in their exit
        // handlers, only much longer): it must exit with its own code, not be killed as
        // a leftover the moment its output ends.
        let result = try await ProcessRunner().run(
            ["sh", "-c", "exec >&- 2>&-; sleep 0.3; exit 3"], workingDirectory: "/",
            environment: ["PATH": "/usr/bin:/bin"], timeout: .seconds(120), log: nil)
        #expect(result.exitCode == 3 && result.signal == nil, "\(result.summary)")
    }

    @Test func whatAChildLeavesBehindInItsSessionIsKilled() async throws {
        // The child exits at once; the `sleep 30` it started in the background, with its
        // output closed, is killed rather than left running.
        let seconds = "31.\(UInt32.random(in: 100_000...999_999))"   // names this test's sleep for pgrep
        let result = try await ProcessRunner().run(
            ["sh", "-c", "(exec >&- 2>&-; sleep \(seconds)) & exit 0"], workingDirectory: "/",
            environment: ["PATH": "/usr/bin:/bin"], timeout: .seconds(120), log: nil)
        #expect(result.exitCode == 0)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try runProgram("/usr/bin/pgrep", ["-f", "sleep \(seconds)"]).status == 1, "the background sleep was left running")
    }
}
