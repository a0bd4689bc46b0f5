import Foundation
import NIOHTTP1
import SlipwayCore

/// Attestations next to an image, as cosign stores them on a registry without the OCI 1.1
/// referrers API (the distribution registry among them): an OCI image manifest tagged
/// `sha256-<hex of the image digest>.att`, whose layers are DSSE envelopes (media type
/// `application/vnd.dsse.envelope.v1+json`, annotation `predicateType`).
extension RegistryClient {
    /// cosign's tag for the attestations of the image with `digest` (`sha256:<hex>`).
    public static func attestationTag(for digest: String) -> String { digest.replacingOccurrences(of: ":", with: "-") + ".att" }

    static let ociManifestType = "application/vnd.oci.image.manifest.v1+json"
    static let ociConfigType = "application/vnd.oci.image.config.v1+json"

    /// Pushes `envelope` as the attestation of `image@digest` (replacing what the tag held):
    /// a config blob, the envelope as the one layer, the manifest under the tag. Returns
    /// the manifest's digest as the registry reports it.
    @discardableResult
    public func pushAttestation(_ envelope: Data, predicateType: String, for image: ImageReference, digest: String) async throws -> String {
        let layerDigest = Self.digest(of: envelope)
        // An image config as cosign writes one for an attestation: no platform, one layer.
        let config = Data(
            #"{"architecture":"","config":{},"created":"1970-01-01T00:00:00Z","os":"","rootfs":{"diff_ids":["\#(layerDigest)"],"type":"layers"}}"#
                .utf8)
        try await uploadBlob(config, to: image)
        try await uploadBlob(envelope, to: image)
        let manifest: [String: Any] = [
            "schemaVersion": 2, "mediaType": Self.ociManifestType,
            "config": ["mediaType": Self.ociConfigType, "size": config.count, "digest": Self.digest(of: config)],
            "layers": [
                [
                    "mediaType": DSSEEnvelope.mediaType, "size": envelope.count, "digest": layerDigest,
                    "annotations": ["predicateType": predicateType],
                ]
            ],
        ]
        let body = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys, .withoutEscapingSlashes])
        let tag = Self.attestationTag(for: digest)
        let (response, _) = try await get(
            image, path: "manifests/\(tag)", method: .PUT, headers: [("Content-Type", Self.ociManifestType)], body: body, push: true)
        guard response.status == .created || response.status == .ok else {
            throw Failure(description: "\(image.host)/\(image.repository):\(tag): the manifest was refused (HTTP \(response.status.code))")
        }
        return response.headers.first(name: "Docker-Content-Digest") ?? Self.digest(of: body)
    }

    /// The DSSE envelopes attached to `image@digest`, each checked against the digest its
    /// manifest names; empty when the image has no attestation tag.
    public func attestations(for image: ImageReference, digest: String) async throws -> [Data] {
        let tag = Self.attestationTag(for: digest)
        let (response, body) = try await get(image, path: "manifests/\(tag)", headers: [("Accept", Self.ociManifestType)])
        if response.status == .notFound { return [] }
        guard response.status == .ok, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw Failure(description: "\(image.host)/\(image.repository):\(tag): HTTP \(response.status.code)")
        }
        var envelopes: [Data] = []
        for case let layer as [String: Any] in object["layers"] as? [Any] ?? [] {
            guard layer["mediaType"] as? String == DSSEEnvelope.mediaType, let layerDigest = layer["digest"] as? String,
                layerDigest.hasPrefix("sha256:")
            else { continue }
            let (blob, data) = try await get(image, path: "blobs/\(layerDigest)")
            guard blob.status == .ok else {
                throw Failure(description: "\(image.host)/\(image.repository) attestation layer \(layerDigest): HTTP \(blob.status.code)")
            }
            guard Self.digest(of: data) == layerDigest else {
                throw Failure(
                    description: "\(image.host)/\(image.repository) attestation layer \(layerDigest): its content has another digest")
            }
            envelopes.append(data)
        }
        return envelopes
    }

    /// Uploads `data` as a blob of `image`'s repository unless it is there already: one
    /// POST for an upload session, one PUT with the whole content and its digest.
    func uploadBlob(_ data: Data, to image: ImageReference) async throws {
        let digest = Self.digest(of: data)
        if try await blobExists(image, digest: digest) { return }
        let (started, _) = try await get(
            image, path: "blobs/uploads/", method: .POST, headers: [("Content-Length", "0")], body: Data(), push: true)
        guard started.status == .accepted, let location = started.headers.first(name: "Location") else {
            throw Failure(description: "\(image.host)/\(image.repository): the blob upload was refused (HTTP \(started.status.code))")
        }
        // The upload URL must stay on the registry: credentials go nowhere else.
        let base = baseURL(image)
        var url = location.hasPrefix("/") ? base + location : location
        guard url.hasPrefix(base + "/") else {
            throw Failure(description: "\(image.host) sent the upload to another host (\(location)); not followed")
        }
        url += (url.contains("?") ? "&" : "?") + "digest=" + digest.replacingOccurrences(of: ":", with: "%3A")
        let (done, _) = try await call(
            image, url: url, method: .PUT, headers: [("Content-Type", "application/octet-stream")], body: data, push: true)
        guard done.status == .created else {
            throw Failure(
                description: "\(image.host)/\(image.repository) blob \(digest): the upload was refused (HTTP \(done.status.code))")
        }
    }

    static func digest(of data: Data) -> String { "sha256:" + Crypto.sha256(Array(data)).hexString }
}
