import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SlipwayCore

/// `--url` and `--token`, shared by every command that talks to the operator API.
struct ServerOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Daemon address: http(s)://HOST:PORT or unix:/path/to.sock (default: $SLIPWAY_URL, else http://127.0.0.1:8080).",
            valueName: "url"))
    var url: String?

    @Option(help: ArgumentHelp("Operator API token (default: $SLIPWAY_TOKEN).", valueName: "token"))
    var token: String?

    var resolvedURL: String { url ?? ProcessInfo.processInfo.environment["SLIPWAY_URL"] ?? "http://127.0.0.1:8080" }

    func client() throws -> APIClient {
        guard let token = token ?? ProcessInfo.processInfo.environment["SLIPWAY_TOKEN"], !token.isEmpty else {
            throw ValidationError("no operator token: pass --token or set SLIPWAY_TOKEN")
        }
        return try APIClient(base: resolvedURL, token: token)
    }
}

/// The operator API over AsyncHTTPClient. Every non-2xx answer becomes a `CLIFailure`
/// carrying the server's reason and the matching exit code.
struct APIClient {
    let base: String
    let token: String?

    /// Fails at once when the daemon is not listening (a CLI should say so, not retry
    /// connecting until the request's deadline as a long-running client would).
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(10)))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    init(base: String, token: String?) throws {
        self.base = try Self.baseURL(base)
        self.token = token
    }

    /// `unix:/run/slipway.sock` → AsyncHTTPClient's `http+unix://%2Frun%2Fslipway.sock`.
    static func baseURL(_ text: String) throws -> String {
        let text = text.trimmingSuffix("/")
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard let encoded = path.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) else {
                throw ValidationError("--url \(text): not a socket path")
            }
            return "http+unix://\(encoded)"
        }
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw ValidationError("--url \(text): expected http(s)://HOST:PORT or unix:/path")
        }
        return text
    }

    func request(_ method: HTTPMethod, _ path: String, json: [String: Any]? = nil) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.headers.add(name: "User-Agent", value: "slipway-cli")
        if let json, let data = try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]) {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: data))
        }
        return request
    }

    /// Sends and returns the whole body of a 2xx reply.
    func send(_ method: HTTPMethod, _ path: String, json: [String: Any]? = nil) async throws -> Data {
        let response = try await open(request(method, path, json: json), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        return Data(body.readableBytesView)
    }

    func decode<T: Decodable>(_ type: T.Type, _ method: HTTPMethod, _ path: String, json: [String: Any]? = nil) async throws -> T {
        try decode(type, from: try await send(method, path, json: json), "\(method) \(path)")
    }

    /// A 2xx body as `T`, or a `CLIFailure` that shows what came instead.
    func decode<T: Decodable>(_ type: T.Type, from data: Data, _ what: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw CLIFailure(.unavailable, "\(what): unexpected reply from \(base): \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
    }

    /// Sends and returns the response once its head is in (2xx only); the body streams.
    func open(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPClientResponse {
        let response: HTTPClientResponse
        do {
            response = try await Self.http.execute(request, timeout: timeout)
        } catch {
            throw CLIFailure(.unavailable, "cannot reach \(base): \(error)")
        }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let body = (try? await response.body.collect(upTo: 1 << 20)).map { Data($0.readableBytesView) } ?? Data()
            let reason =
                (try? JSONDecoder().decode(APIErrorBody.self, from: body))?.error
                ?? (body.isEmpty ? response.status.reasonPhrase : String(decoding: body.prefix(200), as: UTF8.self))
            let path = request.url.dropFirst(base.count)
            throw CLIFailure(CLIFailure.kind(forStatus: status), "\(request.method) \(path): \(reason) (HTTP \(status))")
        }
        return response
    }
}

/// `--json`: print the server's JSON instead of a table.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print the API's JSON (for scripts) instead of a table.")
    var json = false
}

extension Data {
    /// JSON as the API sent it, pretty-printed, with a final newline.
    var prettyJSON: String {
        guard let object = try? JSONSerialization.jsonObject(with: self),
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return String(decoding: self, as: UTF8.self) + "\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
