import Testing

@testable import SlipwayPipeline

/// A container tool that could not start its sandbox is run once more; nothing else is.
@Suite struct SandboxStartRetryTests {
    static let sealingFailure =
        "STEP 2/3: RUN sh test.sh\nClose_Fd sealing memfd copy: Device or resource busy\nerror building at STEP \"RUN sh test.sh\": exit status 1\n"

    func run(_ outputs: [(String, Int32)]) async throws -> (result: ProcessRunner.Result, attempts: Int, notes: [String], log: String) {
        let log = CapturedOutput(forwardingTo: nil)
        var attempts = 0
        var notes: [String] = []
        let result = try await SandboxStartRetry.run(forwardingTo: log, note: { notes.append($0) }) { sink in
            let (text, code) = outputs[attempts]
            attempts += 1
            sink.output(Array(text.utf8))
            return ProcessRunner.Result(exitCode: code, signal: nil, timedOut: false)
        }
        return (result, attempts, notes, log.text)
    }

    @Test func aSealingFailureIsRunOnceMoreAndSaidInTheLog() async throws {
        let run = try await run([(Self.sealingFailure, 1), ("COMMIT localhost/slipway/build-1:latest\n", 0)])
        #expect(run.result.succeeded && run.attempts == 2)
        #expect(
            run.notes == [
                "the tool could not start its sandbox (Close_Fd sealing memfd copy: Device or resource busy) before running the command: running it once more"
            ])
        #expect(run.log.contains("Close_Fd sealing memfd copy") && run.log.hasSuffix("COMMIT localhost/slipway/build-1:latest\n"))
    }

    @Test func onlyOnceMore() async throws {
        let run = try await run([(Self.sealingFailure, 1), (Self.sealingFailure, 1)])
        #expect(run.result.exitCode == 1 && run.attempts == 2 && run.notes.count == 1)
    }

    @Test func otherFailuresAndSuccessesRunOnce() async throws {
        let failed = try await run([("error building at STEP \"RUN exit 7\": exit status 7\n", 7)])
        #expect(failed.result.exitCode == 7 && failed.attempts == 1 && failed.notes.isEmpty)
        // The words in a successful run's output (a test printing them) change nothing.
        let succeeded = try await run([(Self.sealingFailure, 0)])
        #expect(succeeded.result.succeeded && succeeded.attempts == 1 && succeeded.notes.isEmpty)
    }
}
