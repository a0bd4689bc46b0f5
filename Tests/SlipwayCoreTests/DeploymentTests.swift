import SlipwayCore
import Testing

@Suite struct DeploymentTests {
    @Test func kubeconfigSecretsAreFoundForMasking() {
        let kubeconfig = """
            apiVersion: v1
            clusters:
            - cluster: {server: https://10.0.0.1:6443}
              name: prod
            users:
            - name: slipway
              user:
                token: "eyJhbGciOiJSUzI1NiJ9.sa-token"
                client-key-data: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t
            - name: other
              user:
                password: 's3cret-pass'
                username: admin
            """
        let values = KubeconfigSecrets.values(in: kubeconfig)
        #expect(Set(values) == ["eyJhbGciOiJSUzI1NiJ9.sa-token", "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t", "s3cret-pass"])
        let masked = SecretMasker(secrets: values).mask("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.sa-token failed")
        #expect(masked == "Authorization: Bearer *** failed")
    }

    @Test func kubectlCallsDeployByDigestInTheConfiguredNamespace() {
        let deploy = DeployConfig(
            schedule: nil, kubeconfig: .file("/k"), namespace: "models", deployment: "model-app",
            container: "api", rolloutTimeout: .seconds(300))
        let plan = KubectlPlan(kubeconfigPath: "/run/k", deploy: deploy)
        let image = "registry.local/acme/app@sha256:" + String(repeating: "a", count: 64)
        #expect(
            plan.setImage(image) == [
                "kubectl", "--kubeconfig", "/run/k", "--namespace", "models", "--request-timeout=30s",
                "set", "image", "deployment/model-app", "api=\(image)",
            ])
        #expect(plan.rolloutStatus.suffix(4) == ["rollout", "status", "deployment/model-app", "--timeout=300s"])
        #expect(plan.rolloutUndo.suffix(3) == ["rollout", "undo", "deployment/model-app"])
        #expect(plan.liveImage.last == #"jsonpath={.spec.template.spec.containers[?(@.name=="api")].image}"#)
    }

    @Test func aRebuildOfTheLiveCommitAndModelIsTheSameRelease() throws {
        let name = "registry.local/acme/app"
        let digest = "sha256:" + String(repeating: "b", count: 64)
        #expect(SameRelease.digest(of: "\(name)@\(digest)", named: name) == digest)
        #expect(SameRelease.digest(of: "registry.local/other/app@\(digest)", named: name) == nil, "another image")
        #expect(SameRelease.digest(of: "\(name):main", named: name) == nil, "a tag says nothing of what runs")
        #expect(SameRelease.digest(of: "\(name)@sha256:abc", named: name) == nil)

        func build(_ id: Int64, sha: Character, model: String?) throws -> Build {
            var build = Build(
                id: id, repository: "acme/app", ref: "refs/heads/main", sha: try #require(CommitID(String(repeating: sha, count: 40))),
                cloneURL: nil, trigger: .push, deliveryID: nil, state: .success, reason: nil, createdAt: 0, startedAt: nil,
                finishedAt: nil, attempts: 1)
            build.model = model.map { ModelProvenance(source: "s3://m/model.npz", version: "v1", sha256: $0) }
            return build
        }
        let model = String(repeating: "7", count: 64)
        let live = try build(2, sha: "a", model: model)
        let reason = SameRelease.reason(live: live, candidate: try build(3, sha: "a", model: model))
        #expect(reason == "the live image (build #2) has the same commit aaaaaaa and model sha256 777777777777…")
        #expect(SameRelease.reason(live: live, candidate: try build(3, sha: "c", model: model)) == nil, "new code")
        #expect(
            SameRelease.reason(live: live, candidate: try build(3, sha: "a", model: String(repeating: "8", count: 64))) == nil, "new model")
        #expect(SameRelease.reason(live: live, candidate: try build(3, sha: "a", model: nil)) == nil, "the model went away")
        #expect(SameRelease.reason(live: try build(2, sha: "a", model: nil), candidate: try build(3, sha: "a", model: nil)) != nil)

        // From the images' labels, as the registry has them.
        let commit = String(repeating: "a", count: 40)
        let liveLabels = ["org.opencontainers.image.revision": commit, "ai.slipway.model.sha256": model, "ai.slipway.build": "2"]
        var rebuilt = liveLabels
        rebuilt["ai.slipway.build"] = "3"
        #expect(SameRelease.reason(liveLabels: liveLabels, candidateLabels: rebuilt) == reason)
        rebuilt["ai.slipway.model.sha256"] = String(repeating: "8", count: 64)
        #expect(SameRelease.reason(liveLabels: liveLabels, candidateLabels: rebuilt) == nil, "new model")
        #expect(SameRelease.reason(liveLabels: [:], candidateLabels: [:]) == nil, "an image that says nothing is replaced")
    }
}
