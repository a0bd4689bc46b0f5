import Foundation
import SlipwayCore
import SlipwayRegistry

/// With `provenance:` configured, the push step's last act: an in-toto SLSA provenance
/// statement for the pushed digest (`ProvenanceStatement`), signed into a DSSE envelope,
/// stored on the build and pushed next to the image under cosign's `.att` tag. Without
/// `provenance:`, nothing.
extension PushStep {
    /// nil when attested (or not configured); else the build's end.
    func attest(digest: String, registry: PushRegistryView, context: StepContext) async throws -> StepOutcome? {
        guard let provenance = context.config.config.provenance, let key = context.config.provenanceSigningKey else { return nil }
        let build = context.build
        var baseImages: [(name: String, digest: String)] = []
        if let local = context.artifacts.localImage, let argv = builder.imageAnnotationsArguments(local),
            let json = await context.toolOutput(argv, timeout: .seconds(30), limit: 4 << 20),
            let base = ProvenanceStatement.baseImage(inInspection: json)
        {
            baseImages.append(base)
        }
        let statement = ProvenanceStatement(
            .init(
                image: image.name, imageDigest: digest, repository: build.repository, ref: build.ref, trigger: build.trigger,
                cloneURL: build.cloneURL, commit: build.sha, model: context.artifacts.model,
                modelStoreCheck: context.artifacts.modelStoreCheck, baseImages: baseImages,
                builderID: context.config.config.server.publicURL, buildID: build.id, startedAt: build.startedAt,
                finishedAt: Date().timeIntervalSince1970))
        let envelope: DSSEEnvelope
        do {
            envelope = try DSSEEnvelope.signing(
                statement.encoded(), payloadType: DSSEEnvelope.inTotoPayloadType, key: key, keyID: provenance.keyID)
        } catch {
            return .error(detail: "provenance: cannot sign: \(error)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = try encoder.encode(envelope)
        try await context.store.recordProvenance(buildID: build.id, envelope: String(decoding: json, as: UTF8.self), fence: build.fence)
        guard let reference = registry.reference, let client = registry.client else {
            return .error(detail: "provenance: the image name \(image.name) cannot be parsed")
        }
        do {
            let manifest = try await client.pushAttestation(
                json, predicateType: ProvenanceStatement.predicateType, for: reference, digest: digest)
            context.log.line(
                "provenance: SLSA v1 statement signed (\(key.algorithm.rawValue), key id \(provenance.keyID)); pushed as \(image.name):\(RegistryClient.attestationTag(for: digest)) (\(manifest))"
            )
        } catch {
            return .error(detail: "provenance: the attestation could not be pushed: \(error)")
        }
        return nil
    }
}
