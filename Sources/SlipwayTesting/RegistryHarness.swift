import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The CNCF distribution registry (`docker-registry`) on a loopback port, with htpasswd
/// auth, its storage in a temporary directory. Started and stopped by the test.
public final class RegistryHarness: @unchecked Sendable {
    public let directory: URL
    public private(set) var port: Int
    public let username = "slipway-ci"
    public let password: String
    private var process: ChildProcess?

    public var host: String { "127.0.0.1:\(port)" }

    /// containers-auth.json (also docker's config.json format) for this registry.
    public var authFile: String {
        let auth = Data("\(username):\(password)".utf8).base64EncodedString()
        return #"{"auths":{"\#(host)":{"auth":"\#(auth)"}}}"#
    }

    public init(label: String) throws {
        directory = try TestPaths.temporaryDirectory("registry-\(label)")
        port = freeLoopbackPort()
        password = "pw-" + UUID().uuidString
        do {
            let htpasswd = try runProgram("/usr/bin/htpasswd", ["-Bbn", username, password])
            guard htpasswd.status == 0 else { throw HarnessError("htpasswd failed: \(htpasswd.output)") }
            try htpasswd.output.trimmingCharacters(in: .whitespacesAndNewlines)
                .write(to: directory.appendingPathComponent("htpasswd"), atomically: true, encoding: .utf8)
            try writeConfig()
        } catch {
            shutdown()   // the caller gets no registry to shut down
            throw error
        }
    }

    private func writeConfig() throws {
        try """
        version: 0.1
        log: {level: warn}
        storage:
          filesystem: {rootdirectory: \(directory.appendingPathComponent("data").path)}
        http:
          addr: \(host)
        auth:
          htpasswd: {realm: slipway-test, path: \(directory.appendingPathComponent("htpasswd").path)}
        """.write(to: directory.appendingPathComponent("config.yml"), atomically: true, encoding: .utf8)
    }

    /// Starts the registry and waits until it answers. Another test may take the free
    /// port first: then a new port is taken, once or twice.
    public func start(retriesLeft: Int = 2) async throws {
        let log = directory.appendingPathComponent("registry.log")
        let process = try launchServer(
            "/usr/bin/docker-registry", ["serve", directory.appendingPathComponent("config.yml").path], log: log)
        self.process = process
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            let said = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            // An answer counts only while this registry runs: another one may hold the port.
            if process.isRunning, !said.contains("address already in use"),
                let status = try? await get("/v2/", authenticated: false).status, status == 401, process.isRunning
            {
                return
            }
            if !process.isRunning, said.contains("address already in use"), retriesLeft > 0 {
                self.process = nil
                port = freeLoopbackPort()
                try writeConfig()
                return try await start(retriesLeft: retriesLeft - 1)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("docker-registry did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
    }

    public func stop() {
        guard let process else { return }
        process.stop()
        self.process = nil
    }

    public func shutdown() {
        stop()
        TestPaths.removeTemporaryDirectory(directory)
    }

    public struct Reply: Sendable {
        public let status: Int
        public let headers: HTTPHeaders
        public let body: [UInt8]
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    }

    public func get(_ path: String, authenticated: Bool = true, accept: [String] = []) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://\(host)\(path)")
        if authenticated {
            request.headers.add(name: "Authorization", value: "Basic " + Data("\(username):\(password)".utf8).base64EncodedString())
        }
        for type in accept { request.headers.add(name: "Accept", value: type) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return Reply(status: Int(response.status.code), headers: response.headers, body: Array(buffer: body))
    }

    /// Tags of `repository` (empty when the repository does not exist).
    public func tags(_ repository: String) async throws -> [String] {
        let reply = try await get("/v2/\(repository)/tags/list")
        return reply.status == 200 ? (reply.json["tags"] as? [String] ?? []) : []
    }

    static let manifestTypes = [
        "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
    ]

    /// The manifest digest the registry reports for `reference` (tag or digest), and the manifest.
    public func manifest(_ repository: String, _ reference: String) async throws -> (digest: String?, manifest: [String: Any]) {
        let reply = try await get("/v2/\(repository)/manifests/\(reference)", accept: Self.manifestTypes)
        guard reply.status == 200 else { throw HarnessError("manifest \(repository):\(reference): HTTP \(reply.status)") }
        return (reply.headers.first(name: "Docker-Content-Digest"), reply.json)
    }

    /// The digests of the blobs clients finished uploading, in order, read from the
    /// registry's access log (the closing `PUT …/blobs/uploads/…?digest=sha256:…`).
    public func uploadedBlobs() -> [String] {
        let log = (try? String(contentsOf: directory.appendingPathComponent("registry.log"), encoding: .utf8)) ?? ""
        return log.split(separator: "\n").compactMap { line -> String? in
            guard line.contains("\"PUT /v2/"), line.contains("/blobs/uploads/"),
                let range = line.range(of: #"digest=sha256(%3A|%3a|:)[0-9a-f]{64}"#, options: .regularExpression)
            else { return nil }
            return "sha256:" + line[range].suffix(64)
        }
    }

    /// The labels in the image config of `repository:reference`.
    public func labels(_ repository: String, _ reference: String) async throws -> [String: String] {
        let manifest = try await manifest(repository, reference).manifest
        guard let config = manifest["config"] as? [String: Any], let digest = config["digest"] as? String else {
            throw HarnessError("manifest has no config")
        }
        let blob = try await get("/v2/\(repository)/blobs/\(digest)")
        let configObject = blob.json["config"] as? [String: Any]
        return configObject?["Labels"] as? [String: String] ?? [:]
    }
}
