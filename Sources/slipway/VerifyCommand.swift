import ArgumentParser
import Foundation
import SlipwayCore
import SlipwayRegistry

/// `slipway verify IMAGE@sha256:… --key PUBKEY.pem`: fetches the image's attestation from
/// its registry (cosign's `sha256-<hex>.att` tag), checks the signature with the key and
/// that the statement names this digest, and prints commit, model, build and builder.
/// Exits 7 with the reason when it does not hold. Speaks to the registry, not to slipwayd.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract:
            "Check an image's signed provenance in its registry: signature, subject digest; print commit, model, build and builder (exit 7 otherwise)."
    )

    @Argument(help: "The image by digest: registry/name@sha256:<hex>.") var image: String
    @Option(help: "The public key (PEM) the attestation must be signed with.") var key: String
    @Option(
        name: .customLong("registry-auth"),
        help: "Registry credentials (containers-auth.json / docker config); default $REGISTRY_AUTH_FILE, if set.")
    var registryAuth: String?
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingFailures {
            guard let at = image.lastIndex(of: "@"), let reference = ImageReference(String(image[..<at])),
                SameRelease.digest(of: image, named: String(image[..<at])) != nil
            else {
                throw CLIFailure(.refused, "give the image by digest: registry/name@sha256:<64 hex digits>")
            }
            let name = String(image[..<at])
            let digest = String(image[image.index(after: at)...])
            let verificationKey: ProvenanceVerificationKey
            do {
                guard let pem = FileManager.default.contents(atPath: key) else { throw CLIFailure(.refused, "cannot read the key \(key)") }
                verificationKey = try ProvenanceVerificationKey(publicKeyPEM: String(decoding: pem, as: UTF8.self))
            } catch let error as ProvenanceKeyError {
                throw CLIFailure(.refused, "unknown key \(key): \(error)")
            }
            let environment = ProcessInfo.processInfo.environment
            let client = RegistryClient.forImage(
                reference, authFile: registryAuth ?? environment["REGISTRY_AUTH_FILE"],
                registriesConf: environment["CONTAINERS_REGISTRIES_CONF"])
            let envelopes: [Data]
            do {
                envelopes = try await client.attestations(for: reference, digest: digest)
            } catch {
                throw CLIFailure(.unavailable, "cannot read the attestation from the registry: \(error)")
            }
            let verified: AttestationCheck.Verified
            do {
                verified = try AttestationCheck.verify(envelopes, key: verificationKey, image: name, digest: digest)
            } catch {
                throw CLIFailure(.unverified, "\(name)@\(digest): \(error)")
            }
            if output.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(verified.statement), as: UTF8.self))
            } else {
                print(Self.render(verified, image: "\(name)@\(digest)", algorithm: verificationKey.algorithm))
            }
        }
    }

    static func render(_ verified: AttestationCheck.Verified, image: String, algorithm: ProvenanceKeyAlgorithm) -> String {
        var lines = [
            "verified \(shown(image))", "  signed    key id \(verified.keyIDs.map(shown).joined(separator: ", ")) (\(algorithm.rawValue))",
        ]
        lines.append("  builder   \(shown(verified.builder))")
        lines.append("  build     \(shown(verified.invocation))")
        let parameters = verified.statement.predicate.buildDefinition.externalParameters
        if let source = verified.dependency("source") {
            lines.append(
                "  commit    \(shown(source.digest["gitCommit"] ?? "-")) (\(shown(parameters["repository"] ?? "-")) \(shown(parameters["ref"] ?? "-")), trigger \(shown(parameters["trigger"] ?? "-")))"
            )
        }
        if let model = verified.dependency("model") {
            let version = model.annotations?["version"].map { " version \(shown($0))" } ?? ""
            let check = model.annotations?["storeChecksum"].map { " (store checksum: \(shown($0)))" } ?? ""
            lines.append("  model     \(shown(model.uri ?? "-"))\(version) sha256 \(shown(model.digest["sha256"] ?? "-"))\(check)")
        } else {
            lines.append("  model     none")
        }
        return lines.joined(separator: "\n")
    }
}
