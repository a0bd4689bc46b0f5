import Foundation
import SlipwayCore
import SlipwayRegistry
import SlipwayTesting
import Testing

/// Signed provenance end to end on real parts (buildah, docker-registry with htpasswd,
/// git): the attestation a build pushes under cosign's `.att` tag, `slipway verify` and its
/// refusals, and the deploy gate against the Kubernetes API stand-in (FakeKubernetesAPI
/// with the real kubectl; no cluster runs here). cosign itself is not run here.
extension PipelineEndToEndTests {
    @Test func aBuildPushesASignedAttestationThatVerifiesAndTamperingIsCaught() async throws {
        let keys = try TestPaths.temporaryDirectory("provenance-keys")
        defer { TestPaths.removeTemporaryDirectory(keys) }
        let (signing, publicKey) = try await blocking {
            (try ProvenanceReferenceTests.keyPair(ProvenanceReferenceTests.p256, in: keys, name: "signing"))
        }
        let (_, otherPublic) = try await blocking {
            try ProvenanceReferenceTests.keyPair(ProvenanceReferenceTests.ed25519, in: keys, name: "other")
        }
        let keyPath = keys.appendingPathComponent("signing.key").path
        _ = signing
        let topLevel = "provenance: {signing_key: \"file:\(keyPath)\", key_id: slipway-test}\n" + OperatorAPITests.apiYAML
        try await Self.withRig("provenance", environment: ["TEST_OPS_TOKEN": OperatorAPITests.token], topLevel: topLevel) { rig in
            let id = try await rig.deliver()
            let build = try await rig.daemon.waitForEnd(of: id, timeout: .seconds(120))
            #expect(build.state == .success, "\(build.reason ?? "")\n\(rig.log(id))")
            let digest = try #require(build.image?.digest)
            let tag = RegistryClient.attestationTag(for: digest)
            #expect(try await rig.registry.tags("acme/app").contains(tag), "cosign's tag sha256-<hex>.att")
            let manifest = try await rig.registry.manifest("acme/app", tag).manifest
            let layers = try #require(manifest["layers"] as? [[String: Any]])
            #expect(layers.count == 1 && layers[0]["mediaType"] as? String == "application/vnd.dsse.envelope.v1+json", "\(manifest)")
            #expect(rig.log(id).contains("provenance: SLSA v1 statement signed (ecdsa-p256-sha256, key id slipway-test)"), "\(rig.log(id))")

            // The API gives the envelope the registry holds; the reference verifies it.
            let auth = [("Authorization", "Bearer \(OperatorAPITests.token)")]
            let api = try await rig.daemon.get("/api/v1/builds/\(id)/provenance", headers: auth)
            #expect(api.status == 200)
            let envelope = try JSONDecoder().decode(DSSEEnvelope.self, from: Data(api.body))
            let reference = try ProvenanceReferenceTests.parsed(
                try await blocking {
                    try ProvenanceReferenceTests.referenceAnswer(envelope, publicKey: publicKey, keyID: "slipway-test", in: keys)
                })
            #expect(reference["verified"] as? Bool == true, "\(reference)")
            let subject = try #require((reference["subject"] as? [[String: Any]])?.first)
            #expect(subject["name"] as? String == rig.imageName)
            #expect((subject["digest"] as? [String: String])?["sha256"] == String(digest.dropFirst("sha256:".count)))
            let statement = try JSONDecoder().decode(ProvenanceStatement.self, from: Data(base64Encoded: envelope.payload)!)
            print("attestation of build \(id): \(String(decoding: try Self.pretty(statement), as: UTF8.self))")
            let dependencies = statement.predicate.buildDefinition.resolvedDependencies
            #expect(dependencies.first { $0.name == "source" }?.digest == ["gitCommit": rig.repository.head])
            let base = try #require(dependencies.first { $0.name == "base-image" }, "the base image buildah reports")
            #expect(base.uri == BuildahSandbox.baseImage && base.digest["sha256"]?.count == 64)
            #expect(try await rig.daemon.get("/api/v1/builds/999/provenance", headers: auth).status == 404)
            // The build page links it; the link serves the same envelope to a signed-in viewer.
            #expect(try await rig.daemon.get("/builds/\(id)", headers: auth).text.contains("href=\"/builds/\(id)/provenance.json\""))
            #expect(try await rig.daemon.get("/builds/\(id)/provenance.json", headers: auth).body == api.body)
            #expect(try await rig.daemon.get("/builds/\(id)/provenance.json").status == 401)

            // `slipway verify` reads it from the registry.
            let authFile = keys.appendingPathComponent("auth.json").path
            try rig.registry.authFile.write(toFile: authFile, atomically: true, encoding: .utf8)
            let cli = try CLIProcess(environment: [
                "CONTAINERS_REGISTRIES_CONF": rig.buildah.environment["CONTAINERS_REGISTRIES_CONF"]!,
                "REGISTRY_AUTH_FILE": authFile, "NO_COLOR": "1",
            ])
            defer { cli.removeFiles() }
            let image = "\(rig.imageName)@\(digest)"
            let verified = try await cli.run(["verify", image, "--key", publicKey])
            #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
            #expect(verified.stdout.contains("commit    \(rig.repository.head)"), "\(verified.stdout)")
            #expect(verified.stdout.contains("build     \(rig.daemon.baseURL)/builds/\(id)"))
            #expect(verified.stdout.contains("builder   \(rig.daemon.baseURL)"))

            // Refusals, each with its reason: another key, a tampered envelope, a digest the
            // statement does not name, an image with no attestation.
            let other = try await cli.run(["verify", image, "--key", otherPublic])
            #expect(other.status == 7 && other.stderr.contains("bad signature"), "\(other.stderr)")
            let client = RegistryClient.forImage(
                ImageReference(rig.imageName)!, authFile: authFile,
                registriesConf: rig.buildah.environment["CONTAINERS_REGISTRIES_CONF"])
            var tampered = envelope
            var payload = Array(Data(base64Encoded: envelope.payload)!)
            payload[payload.count / 2] ^= 0x01
            tampered.payload = Data(payload).base64EncodedString()
            try await client.pushAttestation(
                try JSONEncoder().encode(tampered), predicateType: ProvenanceStatement.predicateType,
                for: ImageReference(rig.imageName)!, digest: digest)
            let changed = try await cli.run(["verify", image, "--key", publicKey])
            #expect(changed.status == 7 && changed.stderr.contains("bad signature"), "\(changed.stderr)")
            let elsewhere = "sha256:" + String(repeating: "5", count: 64)
            try await client.pushAttestation(
                try JSONEncoder().encode(envelope), predicateType: ProvenanceStatement.predicateType,
                for: ImageReference(rig.imageName)!, digest: elsewhere)
            let mismatch = try await cli.run(["verify", "\(rig.imageName)@\(elsewhere)", "--key", publicKey])
            #expect(mismatch.status == 7 && mismatch.stderr.contains("subject mismatch"), "\(mismatch.stderr)")
            let none = try await cli.run(["verify", "\(rig.imageName)@sha256:\(String(repeating: "6", count: 64))", "--key", publicKey])
            #expect(none.status == 7 && none.stderr.contains("no attestation"), "\(none.stderr)")
            #expect(!rig.daemon.daemonLog().contains("PRIVATE KEY") && !rig.log(id).contains("PRIVATE KEY"), "the key is never logged")
        }
    }

    static func pretty(_ statement: ProvenanceStatement) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(statement)
    }
}

extension PipelineEndToEndTests {
    /// `deploy.require_provenance`: the image Slipway built and attested deploys; an image
    /// pushed by hand to the same repository (no attestation), recorded as a build, is
    /// refused: deployment `failure`, the reason in its log, the cluster untouched.
    @Test func theDeployGateTakesAnAttestedImageAndRefusesOneWithout() async throws {
        let keys = try TestPaths.temporaryDirectory("provenance-gate")
        defer { TestPaths.removeTemporaryDirectory(keys) }
        let (_, publicKey) = try await blocking {
            try ProvenanceReferenceTests.keyPair(ProvenanceReferenceTests.ed25519, in: keys, name: "signing")
        }
        let kubernetes = try FakeKubernetesAPI()
        defer { kubernetes.remove() }
        try await kubernetes.start()
        let kubeconfig = keys.appendingPathComponent("kubeconfig")
        try kubernetes.kubeconfig.write(to: kubeconfig, atomically: true, encoding: .utf8)
        let deploy = """
                deploy:
                  schedule: null
                  kubeconfig: file:\(kubeconfig.path)
                  namespace: \(kubernetes.namespace)
                  deployment: \(kubernetes.deployment)
                  container: \(kubernetes.container)
                  rollout_timeout: 20s
                  require_provenance: {key: "file:\(publicKey)"}
            """
        let topLevel = "provenance: {signing_key: \"file:\(keys.appendingPathComponent("signing.key").path)\"}\n" + OperatorAPITests.apiYAML
        try await Self.withRig(
            "provenance-gate", extra: deploy, environment: ["TEST_OPS_TOKEN": OperatorAPITests.token], topLevel: topLevel
        ) { rig in
            let id = try await rig.deliver()
            let build = try await rig.daemon.waitForEnd(of: id, timeout: .seconds(120))
            #expect(build.state == .success, "\(build.reason ?? "")\n\(rig.log(id))")
            let cli = try CLIProcess(environment: [
                "SLIPWAY_URL": rig.daemon.baseURL, "SLIPWAY_TOKEN": OperatorAPITests.token, "NO_COLOR": "1",
            ])
            defer { cli.removeFiles() }
            let signed = try await cli.run(["deploy", "acme/app", "--build", "\(id)", "--wait"])
            #expect(signed.status == 0, "\(signed.stdout)\(signed.stderr)")
            #expect(signed.stdout.contains("provenance: verified (ed25519, key id slipway)"), "\(signed.stdout)")

            // An image pushed by hand, with no attestation, recorded as a successful build.
            let digestFile = rig.buildah.directory.appendingPathComponent("by-hand.digest").path
            let authFile = keys.appendingPathComponent("auth.json").path
            try rig.registry.authFile.write(toFile: authFile, atomically: true, encoding: .utf8)
            _ = try await blocking {
                try rig.buildah.buildah([
                    "push", "--authfile", authFile, "--digestfile", digestFile, BuildahSandbox.baseImage,
                    "docker://\(rig.imageName):by-hand",
                ])
            }
            let byHand = try String(contentsOfFile: digestFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            _ = try await rig.daemon.stop()
            let store = try rig.daemon.openStore()
            let seeded = try await store.enqueue(
                BuildRequest(
                    repository: "acme/app", ref: "refs/heads/main", sha: CommitID(rig.repository.head)!, cloneURL: nil, trigger: .rebuild,
                    deliveryID: nil), supersedeOlder: false)
            let fence = try #require(try await store.claimRunnable(freeWorkers: 1).first?.fence)
            try await store.recordImage(
                buildID: seeded.id, ImageProvenance(name: rig.imageName, tags: ["by-hand"], digest: byHand), fence: fence)
            try await store.transition(seeded.id, .finish(.success), reason: nil)
            try await rig.daemon.start()
            let patchesBefore = kubernetes.requests.filter { $0.method == "PATCH" }.count
            let refused = try await cli.run(["deploy", "acme/app", "--build", "\(seeded.id)", "--wait"])
            #expect(refused.status == 5, "\(refused.stdout)\(refused.stderr)")
            #expect(refused.stdout.contains("refused: require_provenance: no attestation"), "\(refused.stdout)")
            #expect(refused.stdout.contains("failure"), "\(refused.stdout)")
            #expect(kubernetes.requests.filter { $0.method == "PATCH" }.count == patchesBefore, "the cluster is not touched")
        }
    }
}
