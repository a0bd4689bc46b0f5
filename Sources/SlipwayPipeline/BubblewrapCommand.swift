import SlipwayCore

/// The `bwrap` command line that runs one argv of build code confined (pure: no I/O).
///
/// The sandbox gets new PID, IPC, UTS and cgroup namespaces (and a network one when
/// `network` is false), no capabilities, and a mount namespace in which the host's root
/// is read-only, `/dev`, `/dev/shm`, `/proc` and `/tmp` are its own, every `hidden` path
/// is covered (a directory by an empty tmpfs, a file by an empty one) and only `writable`
/// paths can be written. It dies with the daemon's process that started it
/// (`--die-with-parent`); when its command exits, the PID namespace ends and with it
/// anything the command left running. Limits are set with setrlimit by `prlimit` inside
/// the sandbox, so they bind the build's code and not bwrap itself.
///
/// Two ways in, by who the daemon is (`user`):
/// - a daemon of an ordinary user starts bwrap as itself: bwrap makes a user namespace
///   (which it then forbids the code to nest) and drops every capability in it;
/// - a root daemon starts bwrap as root, which needs no user namespace, and `setpriv`
///   becomes `user` (uid and gid, no other groups) with empty capability and bounding
///   sets and no_new_privs before the code runs: root, even in a user namespace, would
///   still own, and so read, every root-owned file of the host, and RLIMIT_NPROC does
///   not bind root.
///
/// Order matters: bwrap applies mounts in argument order, so the hidden paths come after
/// the private `/tmp` and before the writable binds (a workspace inside a hidden state
/// directory is bound back in on top of the tmpfs that hides its siblings).
public struct BubblewrapCommand: Sendable, Equatable {
    /// Directories bound read-write at their own path (the checkout).
    public var writable: [String]
    /// Paths bound read-only at their own path, after the writable ones (the model file).
    public var readOnly: [String] = []
    /// Directories replaced by an empty tmpfs.
    public var hiddenDirectories: [String] = []
    /// Files replaced by an empty, read-only file.
    public var hiddenFiles: [String] = []
    public var workingDirectory: String
    public var network: Bool = true
    public var limits = StepLimits()
    /// Who the code runs as when bwrap is started as root; nil: bwrap runs as the
    /// daemon's (unprivileged) user.
    public var user: BuildUser?
    /// HOME inside the sandbox: private, on its tmpfs `/tmp`.
    public static let home = "/tmp/home"
    /// USER and LOGNAME of a root daemon's build code.
    public static let userName = "slipway-build"

    public struct BuildUser: Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
    }

    public init(writable: [String], workingDirectory: String, user: BuildUser? = nil) {
        self.writable = writable
        self.workingDirectory = workingDirectory
        self.user = user
    }

    public static let executable = "bwrap"
    public static let limitTool = "/usr/bin/prlimit"
    public static let userTool = "/usr/bin/setpriv"

    /// The whole argv: bwrap, its options, then `[setpriv … --] prlimit … -- argv`.
    public func arguments(running argv: [String]) -> [String] {
        var result = [Self.executable]
        if user == nil { result.append("--unshare-user") }
        result += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if !network { result.append("--unshare-net") }
        if user == nil { result += ["--disable-userns", "--cap-drop", "ALL"] }
        // No --new-session: the sandbox already starts a session of its own, without a
        // terminal (ProcessRunner), and staying in it lets a step's SIGTERM reach the code.
        result += [
            "--die-with-parent",
            "--ro-bind", "/", "/", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm", "--proc", "/proc",
            "--perms", "1777", "--tmpfs", "/tmp", "--perms", "0777", "--dir", Self.home,
        ]
        for directory in hiddenDirectories { result += ["--tmpfs", directory] }
        for file in hiddenFiles { result += ["--ro-bind-try", "/dev/null", file] }
        for path in writable {
            // The directories leading to it, where a hidden path's tmpfs or the private
            // /tmp lacks them, are made traversable (bwrap would copy the host's modes).
            for ancestor in Self.ancestors(of: path) { result += ["--perms", "0755", "--dir", ancestor] }
            result += ["--bind", path, path]
        }
        for path in readOnly { result += ["--ro-bind", path, path] }
        // The tmpfs that hide paths are the sandbox's own, but nothing may be put there
        // either (the mounts bound into them stay as they are).
        for directory in hiddenDirectories { result += ["--remount-ro", directory] }
        result += ["--chdir", workingDirectory, "--setenv", "HOME", Self.home, "--setenv", "TMPDIR", "/tmp"]
        // No account has a build uid: tools that want a user name (Python's getpass) read these.
        if user != nil { result += ["--setenv", "USER", Self.userName, "--setenv", "LOGNAME", Self.userName] }
        result.append("--")
        if let user {
            result += [
                Self.userTool, "--reuid=\(user.uid)", "--regid=\(user.gid)", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
            ]
        }
        result += [
            Self.limitTool, "--data=\(limits.memoryBytes)", "--nproc=\(limits.pids)", "--nofile=\(limits.openFiles)",
            "--core=0", "--",
        ]
        return result + argv
    }

    /// `/a/b/c` -> `/a`, `/a/b`.
    static func ancestors(of path: String) -> [String] {
        let parts = path.split(separator: "/")
        return parts.indices.dropLast().map { "/" + parts[...$0].joined(separator: "/") }
    }

    /// What bwrap prints when it could not set the sandbox up (before running anything):
    /// its output then starts with this.
    public static let failurePrefix = "bwrap: "
}
