import ArgumentParser
import Foundation
import SlipwayCore
import SlipwayModels
import SlipwaySecrets

/// `slipway model-pull SOURCE --dest FILE`: resolve, download (streamed, hashed, resumable,
/// cached) and print the provenance, as the build's model step does.
struct ModelPull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model-pull",
        abstract: "Pull a model (s3://, azblob://, https://, file://) as a build would, and print its provenance.")

    @Argument(help: "The model source, as model.source in the config.")
    var source: String

    @Option(help: "Where to put the model.")
    var dest: String

    @Option(name: .customLong("state-dir"), help: "Holds the model cache (models/).")
    var stateDirectory = "./.slipway"

    @Option(help: "Bearer token for https:// sources, as a secret reference (env:NAME or file:PATH).")
    var bearerToken: String?

    func run() async throws {
        guard let location = ModelLocation(source) else { throw ValidationError("'\(source)' is not a model source") }
        var model = ModelConfig(source: source, dest: dest)
        var secrets: [SecretReference: String] = [:]
        if let text = bearerToken {
            guard let reference = SecretReference(text) else { throw ValidationError("--bearer-token must be env:NAME or file:PATH") }
            model.bearerToken = reference
            secrets[reference] = try ProcessSecretSource().value(of: reference).get()
        }
        let store = try ModelFetcher.store(for: model, location: location) { secrets[$0] }
        let fetcher = ModelFetcher(cache: ModelCache(stateDirectory: stateDirectory))
        let started = ContinuousClock.now
        let result = try await fetcher.fetch(location, object: try await fetcher.resolve(location, store: store), store: store)
        let took = ContinuousClock.now - started
        try? FileManager.default.removeItem(atPath: dest)
        if link(result.entry.path, dest) != 0 { try FileManager.default.copyItem(atPath: result.entry.path, toPath: dest) }
        let seconds = took.inSeconds
        print("source      \(result.provenance.source)")
        print("version     \(result.provenance.version ?? "-")")
        print("sha256      \(result.provenance.sha256)")
        print("size        \(result.entry.size)")
        print("transferred \(result.transferred)\(result.cacheHit ? " (cache hit)" : "")")
        print("seconds     \(String(format: "%.3f", seconds))")
    }
}
