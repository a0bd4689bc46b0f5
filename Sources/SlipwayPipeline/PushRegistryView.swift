import Foundation
import SlipwayCore
import SlipwayRegistry

/// What the push step asks the registry, around the push itself: the blobs of the images
/// its tags named before (the registry has them, so the tool skips them), and afterwards
/// the pushed manifest, whose blobs not among those were uploaded (`PushAccounting`).
/// A blob the registry had from some other image counts as uploaded, so the figure is an
/// upper bound; for a push of a branch's next build it is exact.
struct PushRegistryView: Sendable {
    let reference: ImageReference?
    let client: RegistryClient?

    init(image name: String, authFile: String?, toolEnvironment: [String: String]) {
        reference = ImageReference(name)
        client = reference.map {
            RegistryClient.forImage($0, authFile: authFile, registriesConf: toolEnvironment["CONTAINERS_REGISTRIES_CONF"])
        }
    }

    /// The blobs of the images `tags` named before the push; a tag not there yet, or a
    /// registry that cannot be asked, adds none.
    func blobsUnder(tags: [String]) async -> Set<String> {
        guard let reference, let client else { return [] }
        var present: Set<String> = []
        for tag in tags {
            guard let manifest = try? await client.manifest(reference, reference: tag) else { continue }
            present.formUnion(manifest.blobs.map(\.digest))
        }
        return present
    }

    func accounting(of digest: String, present: Set<String>) async -> Result<PushAccounting, RegistryClient.Failure> {
        guard let reference, let client else { return .failure(RegistryClient.Failure(description: "the image name cannot be parsed")) }
        do {
            let manifest = try await client.manifest(reference, reference: digest)
            return .success(PushAccounting(blobs: manifest.blobs, present: present))
        } catch let error as RegistryClient.Failure {
            return .failure(error)
        } catch {
            return .failure(RegistryClient.Failure(description: "\(error)"))
        }
    }
}
