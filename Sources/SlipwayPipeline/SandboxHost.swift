import Foundation
import SlipwayCore

#if canImport(Glibc)
import Glibc
#endif

/// What the daemon keeps from build code, and as whom build code runs: the host-side
/// facts a `BubblewrapCommand` is made from.
///
/// Hidden, besides the state directory (database, logs, mirrors, other workspaces, the
/// model cache): systemd's credential directory, every `file:` secret of the config, the
/// config file itself, the daemon's home (where tools keep credentials: ~/.ssh, ~/.aws,
/// ~/.kube, ~/.docker), container storage and the container engines' sockets.
public struct SandboxHost: Sendable {
    /// The uids and gids build code runs as when the daemon is root, one drawn at random
    /// for each sandboxed command: root, even in a user namespace, would still own (and so
    /// read) every root-owned file of the host, and RLIMIT_NPROC counts a user's processes
    /// machine-wide, so two builds sharing one uid (`nobody`) would share one `pids` limit.
    /// No account has these ids (2^20 of them from 0x50000000: far above any distribution's
    /// ranges and subordinate-id defaults).
    public static let buildUserIDs: Range<UInt32> = 0x5000_0000..<0x5000_0000 + (1 << 20)

    public var configPath: String?
    /// `$CREDENTIALS_DIRECTORY` (systemd's LoadCredential=), when set.
    public var credentialsDirectory: String?
    /// The daemon's home, container storage (buildah's and podman's graph and run roots)
    /// and engine sockets.
    public var privatePaths: [String]
    /// Container storage's graph and run roots (root buildah's, confined in
    /// `ContainerToolSandbox`): those of storage.conf, else root's defaults.
    public var containerStorage: [String]
    /// The daemon's effective uid (0: build code runs as one of `buildUserIDs`).
    public var daemonUID: UInt32

    public init(
        configPath: String?, credentialsDirectory: String?, privatePaths: [String], containerStorage: [String] = [],
        daemonUID: UInt32
    ) {
        self.configPath = configPath
        self.credentialsDirectory = credentialsDirectory
        self.privatePaths = privatePaths
        self.containerStorage = containerStorage
        self.daemonUID = daemonUID
    }

    /// The facts of this process: its environment decides where container storage lives.
    public static func fromProcess(
        configPath: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> SandboxHost {
        var containers = [
            "/var/lib/containers", "/run/containers", "/run/docker.sock", "/run/docker", "/run/containerd",
            "/run/podman", "/run/buildkit", "/var/lib/docker",
        ]
        if let home = environment["HOME"], !sharedDirectories.contains(absolute(home)) { containers.append(home) }
        if let runtime = environment["XDG_RUNTIME_DIR"] {
            containers += [runtime + "/containers", runtime + "/podman", runtime + "/docker.sock"]
        }
        let storageConf = environment["CONTAINERS_STORAGE_CONF"] ?? "/etc/containers/storage.conf"
        var storage = (try? String(contentsOfFile: storageConf, encoding: .utf8)).map(Self.storageRoots(inStorageConf:)) ?? []
        if storage.isEmpty { storage = Self.defaultStorage }
        return SandboxHost(
            configPath: configPath, credentialsDirectory: environment["CREDENTIALS_DIRECTORY"],
            privatePaths: containers + storage, containerStorage: storage, daemonUID: geteuid())
    }

    /// Container storage when no storage.conf names it (root's defaults).
    static let defaultStorage = ["/var/lib/containers/storage", "/run/containers/storage"]

    /// `graphroot`, `runroot` and `rootless_storage_path` of a containers-storage.conf.
    static func storageRoots(inStorageConf text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, ["graphroot", "runroot", "rootless_storage_path"].contains(parts[0]) else { return nil }
            let value = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            return value.hasPrefix("/") ? value : nil
        }
    }

    /// Who one sandboxed command runs as when the daemon is root (a fresh id from
    /// `buildUserIDs`); nil: the daemon's own user.
    public func makeBuildUser() -> BubblewrapCommand.BuildUser? {
        guard daemonUID == 0 else { return nil }
        let id = UInt32.random(in: Self.buildUserIDs)
        return BubblewrapCommand.BuildUser(uid: id, gid: id)
    }

    /// Directories and files no build may see, absolute, existing, and none inside another.
    public func hiddenPaths(stateDirectory: String, secretFiles: [String]) -> (directories: [String], files: [String]) {
        var directories = [Self.absolute(stateDirectory)] + privatePaths
        var files: [String] = []
        if let credentialsDirectory { directories.append(credentialsDirectory) }
        for path in secretFiles.map(Self.absolute) + [configPath].compactMap({ $0 }).map(Self.absolute) {
            let parent = (path as NSString).deletingLastPathComponent
            if Self.sharedDirectories.contains(parent) || parent.split(separator: "/").count < 2 {
                files.append(path)
            } else {
                directories.append(parent)
            }
        }
        var isDirectory: ObjCBool = false
        let existingDirectories = Set(directories.map(Self.absolute)).filter {
            FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && isDirectory.boolValue
        }
        let covered = { (path: String) in existingDirectories.contains { path != $0 && path.hasPrefix($0 + "/") } }
        let keptDirectories = existingDirectories.filter { !covered($0) }.sorted()
        // Sockets and other non-directories among the private paths are covered like files.
        let otherPaths = Set(directories.map(Self.absolute)).subtracting(existingDirectories)
        let keptFiles = Set(files + otherPaths).filter { FileManager.default.fileExists(atPath: $0) && !covered($0) }.sorted()
        return (keptDirectories, keptFiles)
    }

    /// Directories the system needs whole: a secret file directly inside one is covered
    /// alone, not with its directory.
    static let sharedDirectories: Set<String> = [
        "/", "/etc", "/usr", "/usr/local", "/usr/local/etc", "/usr/share", "/usr/lib", "/var", "/var/lib", "/home", "/root",
        "/opt", "/srv", "/run", "/tmp", "/var/tmp", "/etc/ssl", "/etc/ssl/certs",
    ]

    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
}
