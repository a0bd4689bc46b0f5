import Foundation
import SlipwayCore

/// The bwrap command line around a root buildah call that runs build code: `buildah bud`
/// (every `RUN` line of the repository's Dockerfile) and the smoke step's `buildah run`.
///
/// buildah's chroot isolation shares the host's PID and network namespaces and leaves the
/// build root's default capabilities, CAP_SYS_CHROOT among them: a `RUN` line can leave
/// its chroot for buildah's root, see and kill the daemon, and read the host as root.
/// Here buildah runs in a root of its own: the system's programs and libraries read-only
/// (`/usr` and the top-level links into it), the few `/etc` files buildah and name lookup
/// read, fresh `/dev`, `/proc`, `/tmp`, `/run` and an empty `/sys`, the container storage
/// and buildah's temporary directory writable, and the checkout read-only. A `RUN` line
/// that escapes its chroot lands there, in a PID namespace of its own: no state
/// directory, no secrets, no daemon, no host files beyond those. Pure: the caller says
/// which of the host's paths exist (`HostLayout`).
public struct ContainerToolSandbox: Sendable {
    /// Container storage and buildah's TMPDIR: bound read-write.
    public var writable: [String]
    /// The checkout and the tool's configuration files: bound read-only.
    public var readOnly: [String]
    public var network: Bool = true
    public var layout: HostLayout

    /// What the host has of the paths the sandbox's root is made from.
    public struct HostLayout: Sendable {
        /// Top-level names that are links into /usr (merged /usr: /bin -> usr/bin), with their targets.
        public var links: [(name: String, target: String)]
        /// Top-level directories that are real (an unmerged /usr): bound as they are.
        public var directories: [String]
        /// The /etc entries that exist.
        public var etc: [String]

        /// Looks at this host.
        public static func current() -> HostLayout {
            var links: [(String, String)] = []
            var directories: [String] = []
            for name in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: name) {
                    links.append((name, target))
                } else if FileManager.default.fileExists(atPath: name) {
                    directories.append(name)
                }
            }
            return HostLayout(
                links: links, directories: directories,
                etc: ContainerToolSandbox.etcEntries.filter { FileManager.default.fileExists(atPath: $0) })
        }
    }

    /// What buildah, its libraries and name lookup read from /etc.
    static let etcEntries = [
        "/etc/containers", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/ld.so.cache", "/etc/hosts", "/etc/resolv.conf",
        "/etc/host.conf", "/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/alternatives", "/etc/localtime", "/etc/subuid",
        "/etc/subgid",
    ]

    public init(writable: [String], readOnly: [String], network: Bool, layout: HostLayout) {
        self.writable = writable
        self.readOnly = readOnly
        self.network = network
        self.layout = layout
    }

    public func arguments(running argv: [String]) -> [String] {
        var result = [BubblewrapCommand.executable, "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        if !network { result.append("--unshare-net") }
        result += ["--die-with-parent", "--ro-bind", "/usr", "/usr"]
        for link in layout.links { result += ["--symlink", link.target, link.name] }
        for directory in layout.directories { result += ["--ro-bind", directory, directory] }
        for entry in layout.etc { result += ["--ro-bind", entry, entry] }
        result += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--tmpfs", "/run", "--dir", "/sys"]
        for path in writable { result += ["--bind", path, path] }
        for path in readOnly { result += ["--ro-bind", path, path] }
        // The root bwrap made holds only mount points: nothing may be written into it.
        return result + ["--remount-ro", "/", "--"] + argv
    }
}

extension ContainerToolSandbox {
    /// The buildah sub-commands that run build code: `bud` (RUN lines) and `run` (smoke).
    static func runsBuildCode(_ argv: [String]) -> Bool {
        argv.count > 1 && argv[0] == "buildah" && ["bud", "build", "build-using-dockerfile", "run"].contains(argv[1])
    }
}

extension StepContext {
    /// `argv` as it must run: inside `ContainerToolSandbox` when it is a root buildah call
    /// that runs build code and the repository's code is sandboxed; with the environment
    /// it then needs (its own TMPDIR, in the workspace). Unchanged otherwise.
    func confineContainerTool(_ argv: [String]) throws -> (argv: [String], environment: [String: String]) {
        let sandbox = config.config.sandbox(for: repository)
        guard sandbox.kind == .bubblewrap, sandboxHost.daemonUID == 0, ContainerToolSandbox.runsBuildCode(argv) else { return (argv, [:]) }
        let temporary = workspace + "/buildah-tmp"
        let storage = sandboxHost.containerStorage
        for directory in storage + [temporary] {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let configuration = ["CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF", "CONTAINERS_CONF", "SSL_CERT_FILE", "SSL_CERT_DIR"]
            .compactMap { toolEnvironment[$0] }.filter { FileManager.default.fileExists(atPath: $0) }
        let sandboxed = ContainerToolSandbox(
            writable: (storage + [temporary]).map(SandboxHost.absolute),
            readOnly: ([checkoutDirectory] + configuration).map(SandboxHost.absolute),
            network: sandbox.network, layout: .current())
        return (sandboxed.arguments(running: argv), ["TMPDIR": temporary])
    }
}
