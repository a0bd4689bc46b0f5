/// Where a build's own code (the repository's `test` command) runs.
public enum SandboxKind: String, Sendable, CaseIterable {
    /// A bubblewrap sandbox: its own PID, IPC, UTS, user and mount namespaces, no
    /// capabilities, the host read-only, and nothing of the daemon's state visible.
    case bubblewrap
    /// On the host, as the daemon's own user: for trusted code only.
    case none
}

/// Resource limits for one sandboxed step, set with setrlimit inside the sandbox.
public struct StepLimits: Sendable, Equatable {
    /// RLIMIT_DATA: the process's heap and private writable mappings, in bytes.
    public var memoryBytes: Int = 4 << 30
    /// RLIMIT_NPROC: processes and threads of the build's user inside its sandbox.
    public var pids: Int = 512
    /// RLIMIT_NOFILE: open file descriptors per process.
    public var openFiles: Int = 4096

    public init(memoryBytes: Int = 4 << 30, pids: Int = 512, openFiles: Int = 4096) {
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.openFiles = openFiles
    }

    static let memoryRange = (16 << 20)...(1 << 50)
    static let pidsRange = 8...4_194_304
    static let openFilesRange = 16...1_048_576
}

/// How a build's code is confined: the daemon-wide `sandbox`, `sandbox_network` and
/// `limits` keys, each of which a repository may override.
public struct SandboxConfig: Sendable, Equatable {
    public var kind: SandboxKind = .bubblewrap
    /// false: a private network namespace with loopback only.
    public var network: Bool = true
    public var limits = StepLimits()

    public init(kind: SandboxKind = .bubblewrap, network: Bool = true, limits: StepLimits = StepLimits()) {
        self.kind = kind
        self.network = network
        self.limits = limits
    }
}

/// A repository's own sandbox keys; nil means "as the daemon's".
public struct SandboxOverride: Sendable, Equatable {
    public var kind: SandboxKind?
    public var network: Bool?
    public var memoryBytes: Int?
    public var pids: Int?
    public var openFiles: Int?

    public init() {}

    public func applied(to base: SandboxConfig) -> SandboxConfig {
        var result = base
        if let kind { result.kind = kind }
        if let network { result.network = network }
        if let memoryBytes { result.limits.memoryBytes = memoryBytes }
        if let pids { result.limits.pids = pids }
        if let openFiles { result.limits.openFiles = openFiles }
        return result
    }
}

extension Config {
    /// The sandbox a repository's build code runs in: the daemon's, with the repository's overrides.
    public func sandbox(for repository: RepositoryConfig) -> SandboxConfig {
        repository.sandbox.applied(to: sandbox)
    }

    /// Whether any repository's code runs in a bubblewrap sandbox (then bwrap must work here).
    public var usesBubblewrap: Bool {
        repositories.contains { sandbox(for: $0).kind == .bubblewrap }
    }
}
