import Foundation
import SlipwayCore

/// Whether this host can run build code in a bubblewrap sandbox: bwrap is installed and
/// may create the namespaces `BubblewrapCommand` asks for, as the user builds run as.
/// Asked by `slipwayd --check-config` and at start-up.
public enum SandboxProbe {
    /// nil when a sandboxed `true` ran; else what went wrong and how to fix it.
    public static func problem(host: SandboxHost = .fromProcess(), processes: ProcessRunner = ProcessRunner()) async -> String? {
        let user = host.makeBuildUser()
        let command = BubblewrapCommand(writable: [], workingDirectory: "/", user: user)
        let output = CapturedOutput(forwardingTo: nil, limit: 4096)
        let result: ProcessRunner.Result
        do {
            result = try await processes.run(
                command.arguments(running: ["true"]), workingDirectory: "/",
                environment: ["PATH": ToolEnvironment.searchPath], timeout: .seconds(20),
                log: output)
        } catch {
            let reason = "\(error)".trimmingCharacters(in: CharacterSet(charactersIn: ". "))
            return
                "bubblewrap (bwrap) is not installed or cannot be run (\(reason)). Install it (Debian: apt-get install bubblewrap), or set sandbox: none for trusted code only"
        }
        if result.succeeded { return nil }
        let said = output.text.split(separator: "\n").first.map(String.init) ?? result.summary
        if let user {
            return "bubblewrap cannot create its sandbox here (\(said)). Run as root, it needs to create mount, PID, IPC and UTS "
                + "namespaces (a container needs CAP_SYS_ADMIN for that, e.g. --cap-add SYS_ADMIN and an unconfined seccomp/AppArmor "
                + "profile), and setpriv (util-linux) to become uid \(user.uid). Or set sandbox: none for trusted code only"
        }
        return "bubblewrap cannot create its sandbox here as the daemon's user (\(said)). It needs unprivileged user namespaces: "
            + "user.max_user_namespaces > 0 (and kernel.unprivileged_userns_clone=1 on kernels that have it); "
            + "on Ubuntu 24.04 and later an AppArmor profile that allows bwrap to use them (kernel.apparmor_restrict_unprivileged_userns); "
            + "under systemd, RestrictNamespaces= must allow user, pid, ipc, uts, mnt, net and cgroup, and SystemCallFilter= must allow @mount. "
            + "Or set sandbox: none for trusted code only"
    }
}
