/// buildah re-executes itself from a sealed in-memory copy of its own binary before it
/// runs a command in a container (a `RUN` line of `buildah bud`, `buildah run`: the
/// re-exec of containers/storage). On a busy machine the kernel can refuse to seal that
/// copy (EBUSY), and buildah fails with "Close_Fd sealing memfd copy: Device or resource
/// busy" before the command ran. That failure is the machine's, not the project's: the
/// tool is run once more, and the build log says why. Anything else fails as it is.
enum SandboxStartRetry {
    /// What the tool prints when it could not start its sandbox.
    static let signatures = ["sealing memfd copy: "]

    /// The output line that shows the tool could not start its sandbox, if any.
    static func failureLine(in output: String) -> Substring? {
        output.split(separator: "\n").last { line in signatures.contains { line.contains($0) } }
    }

    /// Runs `attempt`, and once more when it failed with one of the `signatures` in its
    /// output. Output goes to `sink` either way.
    static func run(
        forwardingTo sink: any OutputSink, note: (String) -> Void,
        _ attempt: (any OutputSink) async throws -> ProcessRunner.Result
    ) async throws -> ProcessRunner.Result {
        let captured = CapturedOutput(forwardingTo: sink, limit: 16 * 1024)
        let first = try await attempt(captured)
        guard !first.succeeded, !first.timedOut, let line = failureLine(in: captured.text) else { return first }
        note(
            "the tool could not start its sandbox (\(line.trimmingPrefix(while: \.isWhitespace))) before running the command: running it once more"
        )
        return try await attempt(sink)
    }
}

extension StepContext {
    /// `runTool` for a container tool's command that runs something in a container:
    /// made once more when the tool could not start its sandbox (`SandboxStartRetry`).
    /// A root buildah call that runs build code runs inside `ContainerToolSandbox`.
    func runContainerTool(_ argv: [String], in directory: String? = nil, output: (any OutputSink)? = nil) async throws
        -> ProcessRunner.Result
    {
        let (confined, environment) = try confineContainerTool(argv)
        return try await SandboxStartRetry.run(forwardingTo: output ?? log, note: { log.line($0) }) { sink in
            try await runTool(confined, in: directory, extraEnvironment: environment, output: sink, displayed: argv)
        }
    }
}
