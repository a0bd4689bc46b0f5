import Foundation
import Metrics
import SlipwayCore
import SlipwayStore

/// image: builds the checkout's Dockerfile with the configured builder into a local image
/// named for the build, with the SPEC's OCI labels. A failed build is the project's
/// `failure`; a builder that cannot start is an `error`.
public struct ImageStep: BuildStep {
    public let name = "image"
    let builder: any ImageBuilder
    let image: ImageConfig

    public init(builder: any ImageBuilder, image: ImageConfig) {
        self.builder = builder
        self.image = image
    }

    public static func localTag(buildID: Int64) -> String { "localhost/slipway/build-\(buildID):latest" }

    public func run(_ context: StepContext) async throws -> StepOutcome {
        guard let contextDirectory = CheckoutPaths.existing(image.context, in: context.checkoutDirectory) else {
            return .failure(
                exitCode: nil,
                detail: "image: context '\(image.context)' is missing or leaves the repository (through '..' or a symbolic link)")
        }
        var isDirectory: ObjCBool = false
        guard let dockerfile = CheckoutPaths.existing(image.dockerfile, in: context.checkoutDirectory),
            FileManager.default.fileExists(atPath: dockerfile, isDirectory: &isDirectory), !isDirectory.boolValue
        else {
            return .failure(
                exitCode: nil,
                detail: "image: \(image.dockerfile) is missing from the repository or leaves it (through '..' or a symbolic link)")
        }
        let model = context.artifacts.model
        let labels = ImagePlan.labels(
            build: context.build,
            repositoryURL: ImagePlan.repositoryURL(
                cloneURL: context.repository.cloneURL ?? context.build.cloneURL, repository: context.build.repository),
            created: Date(), model: model)
        let tag = Self.localTag(buildID: context.build.id)
        let steps = LineCollector(forwardingTo: context.log, keep: LayerReuseReport.isRelevant)
        let timestamp = await Self.commitTime(context)
        let labeled: (path: String, original: String)
        do {
            labeled = try Self.labeledDockerfile(dockerfile, labels: labels, context: context)
        } catch {
            return .error(detail: "image: cannot copy \(image.dockerfile) to add the labels: \(error)")
        }
        let buildArgs = SlipwayBuildArguments.values(for: labeled.original, model: model)
        for name in buildArgs.keys.sorted() { context.log.line("image: build argument \(name)=\(buildArgs[name] ?? "")") }
        let argv = builder.buildArguments(
            contextDirectory: contextDirectory, dockerfile: labeled.path, tag: tag, labels: [:], buildArgs: buildArgs,
            timestamp: timestamp)
        let result: ProcessRunner.Result
        do {
            if let cache = builder.layerCache(repository: context.build.repository) {
                result = try await Self.cache(context, cache).building {
                    try await context.runContainerTool(argv, in: context.checkoutDirectory, output: steps)
                }
            } else {
                result = try await context.runContainerTool(argv, in: context.checkoutDirectory, output: steps)
            }
        } catch let error as ProcessRunner.LaunchError {
            return .error(detail: "image: \(error.description)")
        }
        try Task.checkCancellation()
        let outcome = CommandStep.outcome(of: result, step: name, context: context)
        guard case .success = outcome else { return outcome }
        context.log.line(LayerReuseReport.parse(steps.lines).summary)
        context.artifacts.localImage = tag
        let (tags, skipped) = ImagePlan.tags(templates: image.tags, build: context.build, model: model)
        for template in skipped { context.log.line("tag template \(template) skipped: this build has no model version") }
        context.artifacts.imageTags = tags
        try await context.store.recordImage(
            buildID: context.build.id, ImageProvenance(name: image.name, tags: tags, digest: nil), fence: context.build.fence)
        return .success
    }

    /// The local image is removed once the build is over, pushed or not. With a layer
    /// cache, the image becomes the repository's cache instead (only its build name is
    /// removed), and the image that was the cache before is retired.
    public func cleanUp(_ context: StepContext) async {
        guard let image = context.artifacts.localImage else { return }
        guard let cache = builder.layerCache(repository: context.build.repository) else {
            _ = try? await context.runToolQuietly(builder.removeImageArguments(image), timeout: .seconds(120))
            return
        }
        let previous = await Self.imageID(cache.tag, cache, context)
        let current = await Self.imageID(image, cache, context)
        let tagged = (try? await context.runToolQuietly(cache.tagAsCache(image), timeout: .seconds(60)))?.succeeded == true
        _ = try? await context.runToolQuietly(
            tagged ? cache.removeName(image) : builder.removeImageArguments(image), timeout: .seconds(120))
        if tagged, let previous, previous != current { Self.cache(context, cache).retire(previous) }
    }

    /// The largest Dockerfile copied to append the labels.
    static let maxDockerfileBytes = 1024 * 1024

    /// A copy of the repository's Dockerfile with the labels appended (`DockerfileLabels`),
    /// in the directory buildah's sandbox may write (the workspace's `buildah-tmp`), never
    /// in the build context. Returns the copy's path and the original text.
    static func labeledDockerfile(_ path: String, labels: [String: String], context: StepContext) throws -> (
        path: String, original: String
    ) {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let data = try handle.read(upToCount: maxDockerfileBytes + 1) ?? Data()
        guard data.count <= maxDockerfileBytes else { throw DockerfileTooLarge(limit: maxDockerfileBytes) }
        let directory = context.workspace + "/buildah-tmp"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let copy = directory + "/Dockerfile.labeled"
        let original = String(decoding: data, as: UTF8.self)
        try Data(DockerfileLabels.appended(to: original, labels: labels).utf8).write(to: URL(fileURLWithPath: copy))
        return (copy, original)
    }

    struct DockerfileTooLarge: Error, CustomStringConvertible {
        let limit: Int
        var description: String { "it is larger than \(limit) bytes" }
    }

    /// The checked-out commit's committer time (Unix seconds); nil when git cannot say.
    static func commitTime(_ context: StepContext) async -> Int64? {
        // The checkout may belong to the sandbox's user: git is told that it may read it.
        let checkout = context.checkoutDirectory
        return await context.toolOutput(
            ["git", "-c", "safe.directory=\(checkout)", "-C", checkout, "log", "-1", "--format=%ct", "HEAD"], timeout: .seconds(30)
        ).flatMap { Int64($0) }
    }

    private static func imageID(_ image: String, _ cache: LayerCacheCommands, _ context: StepContext) async -> String? {
        guard let id = await context.toolOutput(cache.imageID(image), timeout: .seconds(60)), !id.isEmpty, !id.contains("\n") else {
            return nil
        }
        return id
    }

    /// The daemon's `LocalImageCache` for the container storage (and tool) this build uses.
    static func cache(_ context: StepContext, _ commands: LayerCacheCommands) -> LocalImageCache {
        let environment = ["PATH": ToolEnvironment.searchPath, "LANG": "C.UTF-8"].merging(context.toolEnvironment) { $1 }
        let key = ([commands.tool] + ["CONTAINERS_STORAGE_CONF", "STORAGE_DRIVER", "STORAGE_OPTS", "HOME"].map { environment[$0] ?? "" })
            .joined(separator: "|")
        let (processes, directory) = (context.processes, context.config.config.stateDirectory)
        return LocalImageCache.forStorage(key) { ids in
            for id in ids {
                _ = try? await processes.run(
                    commands.removeRetired(id), workingDirectory: directory, environment: environment, timeout: .seconds(120), log: nil)
            }
        }
    }
}

/// smoke: the configured argv inside the built image, before anything is pushed.
public struct SmokeStep: BuildStep {
    public let name = "smoke"
    let builder: any ImageBuilder
    let argv: [String]

    public init(builder: any ImageBuilder, argv: [String]) {
        self.builder = builder
        self.argv = argv
    }

    public func run(_ context: StepContext) async throws -> StepOutcome {
        guard let image = context.artifacts.localImage else { return .error(detail: "smoke: no image was built") }
        let container = Self.container(context)
        var last = ProcessRunner.Result(exitCode: 0, signal: nil, timedOut: false)
        var launchError: ProcessRunner.LaunchError?
        for argv in builder.smokeCommands(image: image, container: container, argv: argv) where !Task.isCancelled {
            do {
                last = try await context.runContainerTool(argv)
            } catch let error as ProcessRunner.LaunchError {
                launchError = error
                break
            }
            if !last.succeeded { break }
        }
        try Task.checkCancellation()
        if let launchError { return .error(detail: "smoke: \(launchError.description)") }
        return CommandStep.outcome(of: last, step: name, context: context)
    }

    /// The smoke container is removed after the build, outside its cancellation (a
    /// canceled smoke test must not leave its container behind).
    public func cleanUp(_ context: StepContext) async {
        guard let remove = builder.removeContainerArguments(Self.container(context)) else { return }
        _ = try? await context.runToolQuietly(remove, timeout: .seconds(60))
    }

    static func container(_ context: StepContext) -> String { "slipway-smoke-\(context.build.id)-\(context.build.attempts)" }
}

/// push: every tag to the registry, with the configured auth file; the digest the
/// registry gives is recorded on the build. Any push failure is an `error`
/// (registry unreachable, credentials refused): the project's code is not at fault.
public struct PushStep: BuildStep {
    public let name = "push"
    let builder: any ImageBuilder
    let image: ImageConfig

    public init(builder: any ImageBuilder, image: ImageConfig) {
        self.builder = builder
        self.image = image
    }

    public func run(_ context: StepContext) async throws -> StepOutcome {
        guard let local = context.artifacts.localImage else { return .error(detail: "push: no image was built") }
        let tags = context.artifacts.imageTags
        guard !tags.isEmpty else { return .error(detail: "push: no tag to push (every tag template was skipped)") }
        let authFile = try writeAuthFile(context)
        defer { if let authFile { try? FileManager.default.removeItem(atPath: authFile) } }
        let registry = PushRegistryView(image: image.name, authFile: authFile, toolEnvironment: context.toolEnvironment)
        let present = await registry.blobsUnder(tags: tags)
        var digest: String?
        for tag in tags {
            let destination = "\(image.name):\(tag)"
            let digestFile = context.scratchDirectory + "/digest-\(tag)"
            let output = CapturedOutput(forwardingTo: context.log)
            for argv in builder.pushCommands(image: local, destination: destination, authFile: authFile, digestFile: digestFile) {
                let result: ProcessRunner.Result
                do {
                    result = try await context.runTool(argv, extraEnvironment: builder.pushEnvironment(authFile: authFile), output: output)
                } catch let error as ProcessRunner.LaunchError {
                    return .error(detail: "push: \(error.description)")
                }
                try Task.checkCancellation()
                if result.timedOut { return .error(detail: "push of \(destination) timed out: \(context.timeoutDescription)") }
                if !result.succeeded {
                    return .error(
                        detail: "push of \(destination) failed (exit \(result.exitCode ?? -1)): registry unreachable or refused the upload")
                }
            }
            let pushed =
                (try? String(contentsOfFile: digestFile, encoding: .utf8)).flatMap(imageDigest(in:)) ?? imageDigest(in: output.text)
            guard let pushed else { return .error(detail: "push of \(destination): the registry reported no digest") }
            if let digest, digest != pushed {
                return .error(detail: "push: \(destination) got digest \(pushed), other tags got \(digest)")
            }
            digest = pushed
            context.log.line("pushed \(destination) as \(image.name)@\(pushed)")
        }
        var uploaded: Int64?
        if let digest {
            switch await registry.accounting(of: digest, present: present) {
            case .success(let accounting):
                context.log.line(accounting.summary)
                uploaded = accounting.uploadedBytes
                Self.bytesUploaded.increment(by: accounting.uploadedBytes)
                Self.bytesReused.increment(by: accounting.reusedBytes)
            case .failure(let error):
                context.log.line("push: cannot tell what was uploaded: \(error)")
            }
        }
        try await context.store.recordImage(
            buildID: context.build.id, ImageProvenance(name: image.name, tags: tags, digest: digest, uploadedBytes: uploaded),
            fence: context.build.fence)
        if let digest, let failed = try await attest(digest: digest, registry: registry, context: context) { return failed }
        return .success
    }

    /// `slipway_image_push_bytes_total{kind}`: `uploaded`, and `reused` (already in the registry).
    static let bytesUploaded = Counter(label: "slipway_image_push_bytes_total", dimensions: [("kind", "uploaded")])
    static let bytesReused = Counter(label: "slipway_image_push_bytes_total", dimensions: [("kind", "reused")])

    public static func declareMetrics() {
        bytesUploaded.increment(by: 0)
        bytesReused.increment(by: 0)
    }

    /// The registry credentials as a file of mode 0600 for this push only (containers-auth
    /// and docker's config.json share the format).
    private func writeAuthFile(_ context: StepContext) throws -> String? {
        guard let reference = image.registryAuth else { return nil }
        guard let content = context.config.secret(reference) else {
            throw SecretLookupError(reference: reference, reason: "not resolved")
        }
        let directory = context.scratchDirectory + "/registry-auth"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = directory + "/config.json"
        guard FileManager.default.createFile(atPath: path, contents: Data(content.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        return path
    }
}
