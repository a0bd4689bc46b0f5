import Foundation
import SlipwayCore

/// The container tool behind the image, smoke and push steps. Each method returns the
/// argv to run; the image, smoke and push steps run them. buildah is the default and the one tested against
/// a real registry here; docker and podman take the same roles with their own flags.
public protocol ImageBuilder: Sendable {
    var executable: String { get }
    /// `timestamp`: the commit's time (Unix seconds), stamped on every file of the layers
    /// the build makes and on the image, so a layer of unchanged files is the same layer in
    /// every build, whatever the checkout's file times (buildah and podman `--timestamp`).
    /// `buildArgs`: `--build-arg NAME=VALUE` each (`SlipwayBuildArguments`).
    func buildArguments(
        contextDirectory: String, dockerfile: String, tag: String, labels: [String: String], buildArgs: [String: String],
        timestamp: Int64?
    ) -> [String]
    /// Commands that run `argv` inside `image` (several for buildah: from, run, rm).
    func smokeCommands(image: String, container: String, argv: [String]) -> [[String]]
    func removeContainerArguments(_ container: String) -> [String]?
    /// Pushes `image` to `destination`; the digest lands in `digestFile` where the tool
    /// can write one, else it is read from the push output (`digestFromOutput`).
    func pushCommands(image: String, destination: String, authFile: String?, digestFile: String) -> [[String]]
    /// Environment for a push (docker reads its auth from a config directory).
    func pushEnvironment(authFile: String?) -> [String: String]
    func removeImageArguments(_ image: String) -> [String]
    /// How the repository's layers are kept for its next build when removing an image
    /// would drop them too (buildah, podman); nil: remove the build's image as it is.
    func layerCache(repository: String) -> LayerCacheCommands?
    /// Prints the built image's description as JSON with its annotations
    /// (`ImageAnnotations`), where the tool records the base image there
    /// (`org.opencontainers.image.base.name` / `.digest`: buildah); nil elsewhere.
    func imageAnnotationsArguments(_ image: String) -> [String]?
}

extension ImageBuilder {
    public func buildArguments(contextDirectory: String, dockerfile: String, tag: String, labels: [String: String]) -> [String] {
        buildArguments(contextDirectory: contextDirectory, dockerfile: dockerfile, tag: tag, labels: labels, buildArgs: [:], timestamp: nil)
    }

    static func timestampArguments(_ timestamp: Int64?) -> [String] { timestamp.map { ["--timestamp", String($0)] } ?? [] }

    public func removeContainerArguments(_ container: String) -> [String]? { nil }
    public func layerCache(repository: String) -> LayerCacheCommands? { nil }
    public func imageAnnotationsArguments(_ image: String) -> [String]? { nil }
    public func pushEnvironment(authFile: String?) -> [String: String] { [:] }

    /// `--layers=true|false` (buildah, podman) when the config says; nothing otherwise.
    static func layersArguments(_ layers: Bool?) -> [String] {
        layers.map { ["--layers=\($0)"] } ?? []
    }

    static func labelArguments(_ labels: [String: String]) -> [String] {
        labels.sorted { $0.key < $1.key }.flatMap { ["--label", "\($0.key)=\($0.value)"] }
    }

    static func buildArgArguments(_ buildArgs: [String: String]) -> [String] {
        buildArgs.sorted { $0.key < $1.key }.flatMap { ["--build-arg", "\($0.key)=\($0.value)"] }
    }
}

public enum ImageBuilders {
    /// `layers`: reuse unchanged layers of earlier builds (`image.layers`); nil: the tool's default.
    public static func make(_ kind: ImageConfig.Builder, environment: [String: String], layers: Bool? = nil) -> any ImageBuilder {
        switch kind {
        case .buildah: BuildahBuilder(isolation: environment["BUILDAH_ISOLATION"] ?? "chroot", layers: layers)
        case .podman: PodmanBuilder(layers: layers)
        case .docker: DockerBuilder(layers: layers)
        }
    }
}

/// buildah: daemonless, works as root or rootless; `--isolation chroot` needs no extra
/// privileges beyond what building needs.
public struct BuildahBuilder: ImageBuilder {
    public let executable = "buildah"
    let isolation: String
    let layers: Bool?

    /// Layers are reused unless the config says `layers: false` (buildah's own default is off).
    public func buildArguments(
        contextDirectory: String, dockerfile: String, tag: String, labels: [String: String], buildArgs: [String: String],
        timestamp: Int64?
    ) -> [String] {
        ["buildah", "bud", "--isolation", isolation] + Self.layersArguments(layers ?? true) + Self.timestampArguments(timestamp)
            + ["--file", dockerfile, "--tag", tag] + Self.labelArguments(labels) + Self.buildArgArguments(buildArgs) + [contextDirectory]
    }

    public func layerCache(repository: String) -> LayerCacheCommands? {
        layers == false ? nil : LayerCacheCommands(tool: "buildah", repository: repository)
    }

    public func imageAnnotationsArguments(_ image: String) -> [String]? {
        // buildah 1.28's templates have no `json`: the whole description, read for its annotations.
        ["buildah", "inspect", "--type", "image", image]
    }

    public func smokeCommands(image: String, container: String, argv: [String]) -> [[String]] {
        [
            ["buildah", "from", "--pull-never", "--name", container, image],
            ["buildah", "run", "--isolation", isolation, container, "--"] + argv,
        ]
    }

    public func removeContainerArguments(_ container: String) -> [String]? { ["buildah", "rm", container] }

    public func pushCommands(image: String, destination: String, authFile: String?, digestFile: String) -> [[String]] {
        [
            ["buildah", "push"] + (authFile.map { ["--authfile", $0] } ?? []) + [
                "--digestfile", digestFile, image, "docker://" + destination,
            ]
        ]
    }

    public func removeImageArguments(_ image: String) -> [String] { ["buildah", "rmi", "--force", image] }
}

/// podman: the same image library as buildah, a docker-like CLI.
public struct PodmanBuilder: ImageBuilder {
    public let executable = "podman"
    let layers: Bool?

    public func buildArguments(
        contextDirectory: String, dockerfile: String, tag: String, labels: [String: String], buildArgs: [String: String],
        timestamp: Int64?
    ) -> [String] {
        ["podman", "build"] + Self.layersArguments(layers) + Self.timestampArguments(timestamp) + ["--file", dockerfile, "--tag", tag]
            + Self.labelArguments(labels) + Self.buildArgArguments(buildArgs) + [contextDirectory]
    }

    public func smokeCommands(image: String, container: String, argv: [String]) -> [[String]] {
        [["podman", "run", "--rm", "--pull=never", "--name", container, image] + argv]
    }

    public func layerCache(repository: String) -> LayerCacheCommands? {
        layers == false ? nil : LayerCacheCommands(tool: "podman", repository: repository)
    }

    public func pushCommands(image: String, destination: String, authFile: String?, digestFile: String) -> [[String]] {
        [
            ["podman", "push"] + (authFile.map { ["--authfile", $0] } ?? []) + [
                "--digestfile", digestFile, image, "docker://" + destination,
            ]
        ]
    }

    public func removeImageArguments(_ image: String) -> [String] { ["podman", "rmi", "--force", image] }
}

/// docker: needs a running engine; auth through a config directory holding config.json;
/// the digest is read from `docker push`'s output.
public struct DockerBuilder: ImageBuilder {
    public let executable = "docker"
    let layers: Bool?

    /// docker stamps no times (BuildKit takes SOURCE_DATE_EPOCH from the environment instead).
    public func buildArguments(
        contextDirectory: String, dockerfile: String, tag: String, labels: [String: String], buildArgs: [String: String],
        timestamp: Int64?
    ) -> [String] {
        ["docker", "build"] + (layers == false ? ["--no-cache"] : []) + ["--file", dockerfile, "--tag", tag]
            + Self.labelArguments(labels) + Self.buildArgArguments(buildArgs) + [contextDirectory]
    }

    public func smokeCommands(image: String, container: String, argv: [String]) -> [[String]] {
        [["docker", "run", "--rm", "--pull=never", "--name", container, image] + argv]
    }

    public func pushCommands(image: String, destination: String, authFile: String?, digestFile: String) -> [[String]] {
        [["docker", "tag", image, destination], ["docker", "push", destination]]
    }

    public func pushEnvironment(authFile: String?) -> [String: String] {
        authFile.map { ["DOCKER_CONFIG": URL(fileURLWithPath: $0).deletingLastPathComponent().path] } ?? [:]
    }

    public func removeImageArguments(_ image: String) -> [String] { ["docker", "rmi", "--force", image] }
}

/// `sha256:<64 hex>` after "digest: " in a push's output (docker), or alone in a digest file.
public func imageDigest(in text: String) -> String? {
    guard let range = text.range(of: #"sha256:[0-9a-f]{64}"#, options: .regularExpression) else { return nil }
    return String(text[range])
}
