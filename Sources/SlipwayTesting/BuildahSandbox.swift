import Foundation

/// buildah storage of a test's own (vfs driver, in a temporary directory), registries
/// configuration that allows plain HTTP to the test registry, and a base image built
/// from Debian's busybox-static (no image can be pulled here).
public final class BuildahSandbox: @unchecked Sendable {
    public let directory: URL
    public static let baseImage = "localhost/slipway-test-base:latest"

    /// The variables slipwayd passes on to buildah (see ToolEnvironment).
    public var environment: [String: String] {
        [
            "CONTAINERS_STORAGE_CONF": directory.appendingPathComponent("storage.conf").path,
            "CONTAINERS_REGISTRIES_CONF": directory.appendingPathComponent("registries.conf").path,
            "BUILDAH_ISOLATION": "chroot",
            "TMPDIR": directory.appendingPathComponent("tmp").path,
        ]
    }

    public init(label: String, insecureRegistries: [String]) throws {
        directory = try TestPaths.temporaryDirectory("buildah-\(label)")
        do {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("tmp"), withIntermediateDirectories: true)
            try """
            [storage]
            driver = "vfs"
            graphroot = "\(directory.appendingPathComponent("graph").path)"
            runroot = "\(directory.appendingPathComponent("run").path)"
            """.write(to: directory.appendingPathComponent("storage.conf"), atomically: true, encoding: .utf8)
            let registries = insecureRegistries.map { "[[registry]]\nlocation = \"\($0)\"\ninsecure = true\n" }.joined(separator: "\n")
            try ("unqualified-search-registries = []\n\n" + registries)
                .write(to: directory.appendingPathComponent("registries.conf"), atomically: true, encoding: .utf8)
            try buildBaseImage()
        } catch {
            remove()   // the caller gets no sandbox to remove
            throw error
        }
    }

    /// `buildah from scratch` + busybox + commit, as the brief suggests.
    func buildBaseImage() throws {
        let rootfs = directory.appendingPathComponent("rootfs/bin")
        try FileManager.default.createDirectory(at: rootfs, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/usr/bin/busybox", toPath: rootfs.appendingPathComponent("busybox").path)
        for tool in ["sh", "cat", "echo", "ls", "sleep", "test", "true", "false", "env", "chmod", "grep", "touch"] {
            try FileManager.default.createSymbolicLink(atPath: rootfs.appendingPathComponent(tool).path, withDestinationPath: "busybox")
        }
        let container = try buildah(["from", "scratch"]).trimmingCharacters(in: .whitespacesAndNewlines)
        try buildah(["copy", container, directory.appendingPathComponent("rootfs").path, "/"])
        try buildah(["config", "--cmd", "/bin/sh", container])
        try buildah(["commit", "--quiet", container, Self.baseImage])
        try buildah(["rm", container])
    }

    @discardableResult
    public func buildah(_ arguments: [String]) throws -> String {
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        let result = try runProgram("/usr/bin/buildah", arguments, environment: env)
        guard result.status == 0 else { throw HarnessError("buildah \(arguments.joined(separator: " ")) failed: \(result.output)") }
        return result.output
    }

    /// Local images (names) in this storage.
    public func images() throws -> [String] {
        try buildah(["images", "--format", "{{.Name}}:{{.Tag}}"]).split(separator: "\n").map(String.init)
    }

    /// Stops what still runs in its storage (a build's container), then removes it as by
    /// `rm -rf`: the storage holds files buildah made read-only.
    public func remove() {
        LeftoverProcesses.killAll(workingIn: directory)
        TestPaths.removeTemporaryDirectory(directory)
    }
}
