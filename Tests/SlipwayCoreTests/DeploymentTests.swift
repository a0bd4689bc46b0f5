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
}
