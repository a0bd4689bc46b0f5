import Foundation
import SlipwayCore
import Testing

@testable import SlipwayPipeline

@Suite struct BubblewrapCommandTests {
    @Test func hiddenPathsAreCoveredBeforeTheWorkspaceIsBoundBack() throws {
        var command = BubblewrapCommand(writable: ["/srv/slipway/workspaces/7/src"], workingDirectory: "/srv/slipway/workspaces/7/src")
        command.hiddenDirectories = ["/srv/slipway", "/run/credentials/slipwayd.service"]
        command.hiddenFiles = ["/etc/slipway-token"]
        command.readOnly = ["/srv/slipway/workspaces/7/src/model/model.onnx"]
        command.limits = StepLimits(memoryBytes: 1 << 30, pids: 64, openFiles: 256)
        let argv = command.arguments(running: ["python3", "-m", "pytest"])

        func position(_ option: String, _ value: String) throws -> Int {
            let index = try #require(argv.indices.first { argv[$0] == option && argv[$0 + 1] == value }, "\(option) \(value) in \(argv)")
            return index
        }
        #expect(argv.first == "bwrap")
        for option in ["--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--disable-userns", "--die-with-parent"] {
            #expect(argv.contains(option), "\(option)")
        }
        #expect(!argv.contains("--unshare-net"), "the network is shared by default")
        #expect(!argv.contains("--new-session"), "the step's own session lets its SIGTERM reach the code")
        #expect(try position("--cap-drop", "ALL") > 0)
        let root = try position("--ro-bind", "/")
        let tmp = try position("--tmpfs", "/tmp")
        let state = try position("--tmpfs", "/srv/slipway")
        let token = try position("--ro-bind-try", "/dev/null")
        let workspace = try position("--bind", "/srv/slipway/workspaces/7/src")
        let model = try position("--ro-bind", "/srv/slipway/workspaces/7/src/model/model.onnx")
        #expect(root < tmp && tmp < state && state < token && token < workspace && workspace < model)
        #expect(try position("--remount-ro", "/srv/slipway") > model, "the hiding tmpfs is read-only once the workspace is bound in")
        #expect(argv[token + 2] == "/etc/slipway-token")

        // The way down to the workspace is made traversable inside the hiding tmpfs.
        #expect(try position("--dir", "/srv/slipway/workspaces/7") > state)
        #expect(try position("--dir", "/srv/slipway/workspaces/7") < workspace)
        #expect(argv[try position("--dir", "/srv/slipway/workspaces") - 1] == "0755")

        let separator = try #require(argv.firstIndex(of: "--"))
        #expect(
            Array(argv[(separator + 1)...]) == [
                "/usr/bin/prlimit", "--data=1073741824", "--nproc=64", "--nofile=256", "--core=0",
                "--", "python3", "-m", "pytest",
            ])
        #expect(try position("--chdir", "/srv/slipway/workspaces/7/src") < separator)
    }

    @Test func aRootDaemonsBuildCodeBecomesTheUnprivilegedUserWithNoCapabilities() throws {
        let argv = BubblewrapCommand(writable: ["/w/src"], workingDirectory: "/w/src", user: .init(uid: 65534, gid: 65534))
            .arguments(running: ["make", "test"])
        #expect(!argv.contains("--unshare-user"), "bwrap as root needs no user namespace")
        let separator = try #require(argv.firstIndex(of: "--"))
        #expect(
            Array(argv[(separator + 1)...]) == [
                "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
                "/usr/bin/prlimit", "--data=4294967296", "--nproc=512", "--nofile=4096", "--core=0",
                "--", "make", "test",
            ])
    }

    @Test func noNetworkIsAPrivateNetworkNamespace() {
        var command = BubblewrapCommand(writable: [], workingDirectory: "/")
        command.network = false
        #expect(command.arguments(running: ["true"]).contains("--unshare-net"))
    }

    @Test func theStateDirectorySecretDirectoriesAndContainerStorageAreHiddenWholeAndOnlyOnce() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-hidden-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        for directory in ["state/models", "secrets", "storage/graph", "credentials", "etc-slipway"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
        }
        _ = FileManager.default.createFile(atPath: "\(root)/secrets/hook", contents: Data("x".utf8))
        _ = FileManager.default.createFile(atPath: "\(root)/etc-slipway/slipway.yaml", contents: Data())
        let host = SandboxHost(
            configPath: "\(root)/etc-slipway/slipway.yaml", credentialsDirectory: "\(root)/credentials",
            privatePaths: ["\(root)/storage/graph", "\(root)/storage/run-missing", "/nonexistent/docker.sock"],
            daemonUID: 1000)
        let hidden = host.hiddenPaths(
            stateDirectory: "\(root)/state/", secretFiles: ["\(root)/secrets/hook", "/etc/passwd", "\(root)/state/models/key"])
        let resolved = SandboxHost.absolute(root)
        #expect(hidden.directories == ["credentials", "etc-slipway", "secrets", "state", "storage/graph"].map { "\(resolved)/\($0)" })
        // A secret file directly in /etc is covered alone; the config's directory is covered whole.
        #expect(hidden.files == ["/etc/passwd"], "\(hidden.files)")
        #expect(host.makeBuildUser() == nil, "an unprivileged daemon's code runs as the daemon's user")
        let rootDaemon = SandboxHost(configPath: nil, credentialsDirectory: nil, privatePaths: [], daemonUID: 0)
        let users = (0..<20).compactMap { _ in rootDaemon.makeBuildUser() }
        #expect(users.count == 20 && users.allSatisfy { SandboxHost.buildUserIDs.contains($0.uid) && $0.gid == $0.uid })
        #expect(Set(users.map(\.uid)).count > 1, "each sandbox a uid of its own")
    }

    @Test func theDaemonsHomeIsHiddenUnlessItIsASystemDirectory() {
        let home = SandboxHost.fromProcess(environment: ["HOME": "/var/lib/slipway", "XDG_RUNTIME_DIR": "/run/user/990"])
        #expect(home.privatePaths.contains("/var/lib/slipway"))
        #expect(home.privatePaths.contains("/run/user/990/containers"))
        #expect(!SandboxHost.fromProcess(environment: ["HOME": "/"]).privatePaths.contains("/"))
    }

    @Test func storageRootsAreReadFromAStorageConf() {
        let conf = """
            [storage]
            driver = "vfs"
            graphroot = "/srv/containers/graph"
            runroot = '/run/user/1000/containers'
            # rootless_storage_path = "/ignored"
            [storage.options]
            rootless_storage_path = "$HOME/.local/share/containers/storage"
            """
        #expect(SandboxHost.storageRoots(inStorageConf: conf) == ["/srv/containers/graph", "/run/user/1000/containers"])
    }
}
