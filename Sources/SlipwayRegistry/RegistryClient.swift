import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SlipwayCore

/// Reads from an image registry over the distribution API (`/v2/…`): manifests and
/// whether blobs exist. Signs in as the registry asks (`WWW-Authenticate`): HTTP Basic,
/// or a bearer token from the registry's token service, with the credentials of a
/// containers-auth file. Registries a registries.conf marks `insecure` are spoken to
/// over plain HTTP; every other one over HTTPS with the system's roots.
public struct RegistryClient: Sendable {
    let credentials: (user: String, password: String)?
    let insecure: Set<String>

    /// Each answer's head and body must arrive within this.
    static let timeout: TimeAmount = .seconds(30)
    /// A manifest is small; a registry that sends more is not answered.
    static let maxManifestBytes = 4 * 1024 * 1024

    public init(credentials: (user: String, password: String)?, insecure: Set<String>) {
        self.credentials = credentials
        self.insecure = insecure
    }

    /// For `image`'s registry: credentials from `authFile` (containers-auth.json) and the
    /// insecure registries of `registriesConf`, when given and readable.
    public static func forImage(_ image: ImageReference, authFile: String?, registriesConf: String?) -> RegistryClient {
        forImage(image, authFileContents: authFile.flatMap { FileManager.default.contents(atPath: $0) }, registriesConf: registriesConf)
    }

    /// The same, from the auth file's contents (a resolved `registry_auth` secret).
    public static func forImage(_ image: ImageReference, authFileContents: Data?, registriesConf: String?) -> RegistryClient {
        let credentials = authFileContents.flatMap { RegistryCredentials.find(host: image.host, inAuthFile: $0) }
        let conf = registriesConf ?? "/etc/containers/registries.conf"
        let insecure = (try? String(contentsOfFile: conf, encoding: .utf8)).map(InsecureRegistries.parse) ?? []
        return RegistryClient(credentials: credentials, insecure: insecure)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public struct Manifest: Sendable {
        /// What the registry says the manifest's digest is.
        public let digest: String?
        public let mediaType: String?
        public let config: PushAccounting.Blob?
        public let layers: [PushAccounting.Blob]
        public let body: Data

        /// The config, then the layers: every blob the manifest names.
        public var blobs: [PushAccounting.Blob] { [config].compactMap { $0 } + layers }
    }

    static let manifestTypes = [
        "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
    ]

    public func manifest(_ image: ImageReference, reference: String) async throws -> Manifest {
        let (response, body) = try await get(
            image, path: "manifests/\(reference)", headers: [("Accept", Self.manifestTypes.joined(separator: ", "))])
        guard response.status == .ok else {
            throw Failure(description: "\(image.host)/\(image.repository) manifest \(reference): HTTP \(response.status.code)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw Failure(description: "\(image.host)/\(image.repository) manifest \(reference) is not JSON")
        }
        func blob(_ value: Any?) -> PushAccounting.Blob? {
            guard let entry = value as? [String: Any], let digest = entry["digest"] as? String,
                let size = (entry["size"] as? NSNumber)?.int64Value
            else { return nil }
            return PushAccounting.Blob(digest: digest, size: size)
        }
        return Manifest(
            digest: response.headers.first(name: "Docker-Content-Digest"),
            mediaType: object["mediaType"] as? String ?? response.headers.first(name: "Content-Type"),
            config: blob(object["config"]), layers: (object["layers"] as? [Any] ?? []).compactMap(blob), body: body)
    }

    /// The labels in the config of the image `reference` names (its `config.Labels`).
    public func labels(_ image: ImageReference, reference: String) async throws -> [String: String] {
        let manifest = try await manifest(image, reference: reference)
        guard let config = manifest.config else {
            throw Failure(description: "\(image.host)/\(image.repository) \(reference) has no config")
        }
        let (response, body) = try await get(image, path: "blobs/\(config.digest)")
        guard response.status == .ok, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw Failure(description: "\(image.host)/\(image.repository) config \(config.digest): HTTP \(response.status.code)")
        }
        return (object["config"] as? [String: Any])?["Labels"] as? [String: String] ?? [:]
    }

    /// Whether the repository holds the blob (HEAD).
    public func blobExists(_ image: ImageReference, digest: String) async throws -> Bool {
        let (response, _) = try await get(image, path: "blobs/\(digest)", method: .HEAD)
        switch response.status {
        case .ok: return true
        case .notFound: return false
        default: throw Failure(description: "\(image.host)/\(image.repository) blob \(digest): HTTP \(response.status.code)")
        }
    }

    func get(
        _ image: ImageReference, path: String, method: HTTPMethod = .GET, headers: [(String, String)] = [], body: Data? = nil,
        push: Bool = false
    ) async throws -> (HTTPClientResponse, Data) {
        try await call(
            image, url: "\(baseURL(image))/v2/\(image.repository)/\(path)", method: method, headers: headers, body: body, push: push)
    }

    /// `scheme://host` of the registry's API.
    func baseURL(_ image: ImageReference) -> String { "\(insecure.contains(image.host) ? "http" : "https")://\(image.apiHost)" }

    /// One request, signed in as the registry asks when it refuses the first try. `push`:
    /// a token for pushing too (`repository:…:pull,push`).
    func call(
        _ image: ImageReference, url: String, method: HTTPMethod, headers: [(String, String)], body: Data?, push: Bool
    ) async throws -> (HTTPClientResponse, Data) {
        var authorization: String?
        for attempt in 0..<2 {
            let (response, answer) = try await send(url, method: method, headers: headers, body: body, authorization: authorization)
            guard response.status == .unauthorized, attempt == 0,
                let challenge = response.headers.first(name: "WWW-Authenticate").flatMap(AuthChallenge.init(header:))
            else { return (response, answer) }
            authorization = try await self.answer(challenge, for: image, push: push)
        }
        throw Failure(description: "\(image.host) refused the credentials")
    }

    private func answer(_ challenge: AuthChallenge, for image: ImageReference, push: Bool) async throws -> String {
        let basic = credentials.map { "Basic " + Data("\($0.user):\($0.password)".utf8).base64EncodedString() }
        switch challenge.scheme {
        case "basic":
            guard let basic else { throw Failure(description: "\(image.host) asks for a password and the auth file has none for it") }
            return basic
        case "bearer":
            guard let realm = challenge.parameters["realm"], var components = URLComponents(string: realm) else {
                throw Failure(description: "\(image.host) asks for a token without saying where to get it")
            }
            var query = components.queryItems ?? []
            if let service = challenge.parameters["service"] { query.append(URLQueryItem(name: "service", value: service)) }
            let scope =
                push ? "repository:\(image.repository):pull,push" : challenge.parameters["scope"] ?? "repository:\(image.repository):pull"
            query.append(URLQueryItem(name: "scope", value: scope))
            components.queryItems = query
            guard let tokenURL = components.string else { throw Failure(description: "bad token realm \(realm)") }
            let (response, body) = try await send(tokenURL, method: .GET, headers: [], body: nil, authorization: basic)
            guard response.status == .ok, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
                let token = (object["token"] ?? object["access_token"]) as? String
            else { throw Failure(description: "\(image.host)'s token service answered HTTP \(response.status.code)") }
            return "Bearer " + token
        default:
            throw Failure(description: "\(image.host) asks for \(challenge.scheme) authentication, which Slipway does not speak")
        }
    }

    private func send(_ url: String, method: HTTPMethod, headers: [(String, String)], body: Data?, authorization: String?) async throws
        -> (HTTPClientResponse, Data)
    {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        do {
            let response = try await RegistryHTTP.client.execute(request, timeout: Self.timeout)
            let body = try await response.body.collect(upTo: Self.maxManifestBytes)
            return (response, Data(body.readableBytesView))
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(description: "cannot reach \(url): \(error)")
        }
    }
}

enum RegistryHTTP {
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        configuration.connectionPool = .init(idleTimeout: .seconds(30))
        configuration.redirectConfiguration = .follow(max: 3, allowCycles: false)   // blob HEADs may redirect to storage
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()
}
