import Foundation
import SlipwayCore
import Synchronization

/// Runs build code (the repository's `test` command) as its config says: inside a
/// bubblewrap sandbox (`BubblewrapCommand`), or on the host for `sandbox: none`.
///
/// In the sandbox the checkout is the one writable path; when the daemon is root, the
/// code runs as an unprivileged uid of its own (`SandboxHost.buildUserIDs`), which is
/// given the checkout first. The sandbox never falls back to running unconfined: bwrap
/// missing or unable to set up its namespaces ends the step in `error`, with the fix in
/// the reason.
struct BuildCodeRunner {
    let context: StepContext

    enum Outcome {
        case ran(ProcessRunner.Result)
        /// The sandbox could not be set up; the code did not run.
        case sandboxFailed(String)
    }

    func run(_ argv: [String], in directory: String) async throws -> Outcome {
        let sandbox = context.config.config.sandbox(for: context.repository)
        guard sandbox.kind == .bubblewrap else {
            context.log.line("sandbox: none (the repository's code runs unconfined, as the daemon's user: trusted code only)")
            return .ran(
                try await context.processes.runLogged(
                    argv, in: directory, environment: context.environment, timeout: context.remaining, log: context.log))
        }
        let host = context.sandboxHost
        let workingDirectory = SandboxHost.absolute(directory)
        let user = host.makeBuildUser()
        if let user {
            let chown = try await context.processes.run(
                ["chown", "-R", "--no-dereference", "\(user.uid):\(user.gid)", workingDirectory], workingDirectory: context.workspace,
                environment: ["PATH": ToolEnvironment.searchPath], timeout: context.remaining, log: nil)
            guard chown.succeeded else { return .sandboxFailed("cannot give the checkout to uid \(user.uid) (\(chown.summary))") }
        }
        let command = Self.command(for: sandbox, host: host, user: user, workingDirectory: workingDirectory, context: context)
        let limits = command.limits
        context.log.line(
            "sandbox: bubblewrap, \(sandbox.network ? "host network" : "no network"), "
                + "as \(user.map { "uid \($0.uid)" } ?? "the daemon's uid"); limits: memory \(limits.memoryBytes) bytes, "
                + "\(limits.pids) processes, \(limits.openFiles) open files"
                + (limits.openFiles < sandbox.limits.openFiles
                    ? " (the daemon's own hard limit; limits.open_files asks \(sandbox.limits.openFiles))" : ""))
        let head = OutputHead(forwardingTo: context.log)
        let result: ProcessRunner.Result
        do {
            result = try await context.processes.runLogged(
                command.arguments(running: argv), in: workingDirectory, environment: context.environment, timeout: context.remaining,
                log: context.log, output: head, displayed: argv)
        } catch let error as ProcessRunner.LaunchError where error.executable == BubblewrapCommand.executable {
            return .sandboxFailed("\(error.description) (install bubblewrap, or set sandbox: none for trusted code only)")
        }
        // bwrap reports its own failures before the code runs, as its first words.
        if result.exitCode == 1, head.text.hasPrefix(BubblewrapCommand.failurePrefix) {
            let line = head.text.split(separator: "\n").first.map(String.init) ?? head.text
            return .sandboxFailed("\(line) (see `slipwayd --check-config` for what this host allows)")
        }
        return .ran(result)
    }

    static func command(
        for sandbox: SandboxConfig, host: SandboxHost, user: BubblewrapCommand.BuildUser?, workingDirectory: String,
        context: StepContext
    ) -> BubblewrapCommand {
        let environment = ProcessInfo.processInfo.environment
        let secretFiles = context.config.config.secretReferences().compactMap { $0.reference.filePath(environment: environment) }
        let hidden = host.hiddenPaths(stateDirectory: context.stateDirectory, secretFiles: secretFiles)
        var command = BubblewrapCommand(writable: [workingDirectory], workingDirectory: workingDirectory, user: user)
        command.hiddenDirectories = hidden.directories
        command.hiddenFiles = hidden.files
        command.readOnly = context.artifacts.modelPath.map { [SandboxHost.absolute($0)] } ?? []
        command.network = sandbox.network
        command.limits = sandbox.limits
        // A limit above the daemon's own hard limit cannot be set (prlimit would fail the step).
        command.limits.openFiles = min(sandbox.limits.openFiles, OpenFileLimit.hard)
        return command
    }
}

/// Keeps the first bytes of a command's output (to tell bwrap's own error from the
/// code's) and passes everything on.
final class OutputHead: OutputSink {
    private let forward: any OutputSink
    private let bytes = Mutex<[UInt8]>([])
    private let limit = 512

    init(forwardingTo forward: any OutputSink) { self.forward = forward }

    func output(_ chunk: some Sequence<UInt8>) {
        bytes.withLock { bytes in
            if bytes.count < limit { bytes.append(contentsOf: chunk.prefix(limit - bytes.count)) }
        }
        forward.output(chunk)
    }

    func flushPending() { forward.flushPending() }

    var text: String { bytes.withLock { String(decoding: $0, as: UTF8.self) } }
}
