import Foundation

/// A local HTTPS server (Tests/Fakes/fake_kubernetes_api.py) that plays the few Kubernetes
/// API endpoints kubectl calls to get, set the image of, wait for the rollout of, and
/// undo the rollout of one apps/v1 Deployment. It is NOT Kubernetes. It keeps the
/// Deployment's generation, status and ReplicaSet revisions, so the real kubectl behaves
/// as it would against a cluster; every request is recorded. `neverReady` keeps a new
/// rollout from ever completing. It serves TLS with a certificate made for it by openssl
/// at start (kubectl sends a bearer token over TLS only) and demands the token.
public final class FakeKubernetesAPI: @unchecked Sendable {
    let server: ServerProcess
    public var directory: URL { server.directory }
    public let port: Int
    public let token: String
    public let namespace: String, deployment: String, container: String
    private let arguments: [String]

    public struct Recorded: Sendable {
        public let method: String
        public let path: String
        public let body: String
        public let status: Int
    }

    public init(
        namespace: String = "models", deployment: String = "model-app", container: String = "model-api",
        initialImage: String = "registry.local/acme/app:initial"
    ) throws {
        server = try ServerProcess(label: "fake-kubernetes")
        let directory = server.directory
        port = freeLoopbackPort()
        token = "k8s-sa-" + UUID().uuidString
        self.namespace = namespace
        self.deployment = deployment
        self.container = container
        arguments = [
            TestPaths.fake("fake_kubernetes_api.py").path,
            "--port", String(port), "--namespace", namespace, "--deployment", deployment, "--container", container,
            "--image", initialImage, "--log", directory.appendingPathComponent("requests.jsonl").path,
            "--mode-file", directory.appendingPathComponent("mode").path, "--token", token,
            "--tls-cert", directory.appendingPathComponent("tls.crt").path, "--tls-key", directory.appendingPathComponent("tls.key").path,
        ]
    }

    var certificatePath: String { directory.appendingPathComponent("tls.crt").path }

    public func start() async throws {
        guard !server.isRunning else { return }
        if !FileManager.default.fileExists(atPath: certificatePath) {
            let key = directory.appendingPathComponent("tls.key").path
            let made = try await blocking { [certificatePath] in
                try runProgram(
                    "/usr/bin/env",
                    [
                        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", key, "-out", certificatePath, "-days", "2", "-subj", "/CN=fake-kubernetes-api",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    ])
            }
            guard made.status == 0 else { throw HarnessError("openssl could not make the fake API's certificate: \(made.output)") }
        }
        try server.start(try PythonTools.python(), arguments)
        let deadline = ContinuousClock.now + TestPaths.serverStartLimit
        while ContinuousClock.now < deadline, server.isRunning {
            if server.log.contains("listening on https://") { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("the fake Kubernetes API did not start: \(server.log)")
    }

    /// New rollouts never become ready (true) or become ready at once (false).
    public func setNeverReady(_ neverReady: Bool) throws {
        try (neverReady ? "never-ready" : "ready").write(to: directory.appendingPathComponent("mode"), atomically: true, encoding: .utf8)
    }

    /// A kubeconfig for this server with its bearer token, as a cluster admin would hand out.
    public var kubeconfig: String {
        """
        apiVersion: v1
        kind: Config
        clusters:
        - name: fake
          cluster:
            server: https://127.0.0.1:\(port)
            certificate-authority: \(certificatePath)
        users:
        - name: slipway
          user:
            token: \(token)
        contexts:
        - name: fake
          context:
            cluster: fake
            user: slipway
            namespace: \(namespace)
        current-context: fake

        """
    }

    public var requests: [Recorded] {
        ((try? String(contentsOf: directory.appendingPathComponent("requests.jsonl"), encoding: .utf8)) ?? "").split(separator: "\n")
            .compactMap { line in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
                let body = object["body"].flatMap { $0 is NSNull ? nil : try? JSONSerialization.data(withJSONObject: $0) }
                return Recorded(
                    method: object["method"] as? String ?? "", path: object["path"] as? String ?? "",
                    body: body.map { String(decoding: $0, as: UTF8.self) } ?? "", status: object["status"] as? Int ?? 0)
            }
    }

    public func stop() { server.stop() }
    public func remove() { server.remove() }
}
