import Foundation
import SlipwayCore
import SlipwayRegistry
import SlipwayTesting
import Testing

/// The client against the real distribution registry on loopback, with htpasswd auth (the
/// registry answers `401` with a `Basic` challenge), and an image pushed by buildah.
@Suite struct RegistryClientTests {
    @Test func manifestsAndBlobsAreReadWithTheAuthFilesCredentials() async throws {
        let registry = try await blocking { try RegistryHarness(label: "client") }
        defer { registry.shutdown() }
        try await registry.start()
        let buildah = try await blocking { try BuildahSandbox(label: "client", insecureRegistries: [registry.host]) }
        defer { buildah.remove() }
        let authFile = buildah.directory.appendingPathComponent("auth.json").path
        try registry.authFile.write(toFile: authFile, atomically: true, encoding: .utf8)   // the auth file's content
        try await blocking {
            try buildah.buildah(["push", "--authfile", authFile, BuildahSandbox.baseImage, "docker://\(registry.host)/acme/base:v1"])
        }
        let image = try #require(ImageReference("\(registry.host)/acme/base"))
        let registriesConf = buildah.environment["CONTAINERS_REGISTRIES_CONF"]
        let client = RegistryClient.forImage(image, authFile: authFile, registriesConf: registriesConf)
        let manifest = try await client.manifest(image, reference: "v1")
        let expected = try await registry.manifest("acme/base", "v1")
        #expect(manifest.digest == expected.digest)
        #expect(manifest.layers.count == 1 && manifest.config != nil, "\(String(decoding: manifest.body, as: UTF8.self))")
        let layer = try #require(manifest.layers.first)
        #expect(try await client.blobExists(image, digest: layer.digest))
        #expect(try await !client.blobExists(image, digest: "sha256:" + String(repeating: "0", count: 64)))

        // The labels of an image's config, as the deploy step compares them.
        try await blocking {
            let container = try buildah.buildah(["from", "--pull-never", BuildahSandbox.baseImage]).trimmingCharacters(
                in: .whitespacesAndNewlines)
            try buildah.buildah([
                "config", "--label", "org.opencontainers.image.revision=abc123", "--label", "ai.slipway.build=9", container,
            ])
            try buildah.buildah(["commit", "--quiet", container, "localhost/labeled:1"])
            try buildah.buildah(["rm", container])
            try buildah.buildah(["push", "--authfile", authFile, "localhost/labeled:1", "docker://\(registry.host)/acme/base:labeled"])
        }
        let labels = try await client.labels(image, reference: "labeled")
        #expect(labels["org.opencontainers.image.revision"] == "abc123" && labels["ai.slipway.build"] == "9", "\(labels)")

        let anonymous = RegistryClient.forImage(image, authFile: nil, registriesConf: registriesConf)
        await #expect(throws: RegistryClient.Failure.self) { try await anonymous.manifest(image, reference: "v1") }
        let missing = RegistryClient(credentials: ("slipway", "wrong"), insecure: [registry.host])
        await #expect(throws: RegistryClient.Failure.self) { try await missing.manifest(image, reference: "v1") }
    }
}
