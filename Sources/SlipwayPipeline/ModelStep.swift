import Foundation
import Metrics
import SlipwayCore
import SlipwayModels
import SlipwayStore

#if canImport(Glibc)
import Glibc
#endif

/// model: the newest model from its store into the build context (`model.dest`, inside
/// `image.context`), through the cache under `state_dir/models`. The resolved object, its
/// version and sha256 are recorded on the build and become the image's labels. A `sha256`
/// pin that does not match is the project's `failure`; a store that refuses or cannot be
/// reached is an `error` naming the source.
public struct ModelStep: BuildStep {
    /// `slipway_model_bytes_downloaded_total`: bytes actually transferred (a cache hit adds 0).
    static var bytesDownloaded: Counter { Counter(label: "slipway_model_bytes_downloaded_total") }

    /// Declares the series at 0 (after the metrics bootstrap).
    public static func declareMetrics() { bytesDownloaded.increment(by: 0) }

    public let name = "model"
    let model: ModelConfig

    public init(model: ModelConfig) { self.model = model }

    public func run(_ context: StepContext) async throws -> StepOutcome {
        guard let location = ModelLocation(model.source) else {
            return .error(detail: "model: '\(model.source)' is not a model source")
        }
        let fetcher = ModelFetcher(cache: ModelCache(stateDirectory: context.stateDirectory))
        let result: ModelFetcher.Result
        do {
            let store = try ModelFetcher.store(for: model, location: location, secret: context.config.secret)
            context.log.line(location.isLatest ? "looking for the newest model matching \(model.source)" : "model \(model.source)")
            let object = try await fetcher.resolve(location, store: store)
            result = try await fetcher.fetch(location, object: object, store: store)
        } catch let error as ModelError {
            context.log.line(error.description)
            return .error(detail: error.description)
        }
        Self.bytesDownloaded.increment(by: result.transferred)
        try Task.checkCancellation()
        let provenance = result.provenance
        context.log.line(
            result.cacheHit
                ? "\(provenance.source) version \(provenance.version ?? "-") is cached: 0 bytes transferred"
                : "downloaded \(provenance.source) version \(provenance.version ?? "-"): \(result.entry.size) bytes (\(result.transferred) transferred)"
        )
        context.log.line("sha256 \(provenance.sha256)")
        if let storeCheck = result.entry.storeCheck { context.log.line("store checksum: \(storeCheck)") }
        if let pin = model.sha256, pin != provenance.sha256 {
            context.log.line("sha256 mismatch: the config pins \(pin), the model has \(provenance.sha256)")
            return .failure(exitCode: nil, detail: "model sha256 mismatch: expected \(pin), got \(provenance.sha256)")
        }
        let contextPath = context.repository.image?.context ?? "."
        guard let contextDirectory = CheckoutPaths.existing(contextPath, in: context.checkoutDirectory) else {
            return .failure(exitCode: nil, detail: "model: the build context '\(contextPath)' is missing or leaves the repository")
        }
        let destination: String
        do {
            destination = try CheckoutPaths.writable(model.dest, in: contextDirectory)
        } catch {
            return .failure(exitCode: nil, detail: "model: dest \(error)")
        }
        do {
            try Self.place(result.entry.path, at: destination)
        } catch {
            return .error(detail: "model: cannot place the model at \(model.dest): \(error)")
        }
        context.log.line("placed at \(model.dest)")
        context.artifacts.modelPath = destination
        context.artifacts.model = provenance
        context.artifacts.modelStoreCheck =
            model.sha256 != nil
            ? "pinned model.sha256 matched" + (result.entry.storeCheck.map { "; store checksum \($0)" } ?? "")
            : result.entry.storeCheck ?? (location.store == .file ? "a file: no store checksum" : StoreChecksum.notOffered)
        try await context.store.recordModel(buildID: context.build.id, provenance, fence: context.build.fence)
        return .success
    }

    /// A hard link when the cache and the workspace share a file system, else a copy.
    /// `destination` is free (`CheckoutPaths.writable`).
    static func place(_ cached: String, at destination: String) throws {
        if link(cached, destination) == 0 { return }
        try FileManager.default.copyItem(atPath: cached, toPath: destination)
    }
}
