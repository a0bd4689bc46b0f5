import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SlipwayCore

/// Azure Blob Storage: Shared Key (account key) or a SAS token; `endpoint` overrides
/// `https://ACCOUNT.blob.core.windows.net` (other clouds, Azurite: `http://host:port/ACCOUNT`).
public struct AzureBlobStore: ModelStore {
    static let apiVersion = "2021-08-06"
    let account: String
    let container: String
    let endpoint: String
    let sharedKey: AzureSharedKey?
    let sas: String?
    let source: String

    public init(account: String, container: String, settings: ModelConfig.Azure?, secret: (SecretReference) -> String?, source: String)
        throws
    {
        self.account = account
        self.container = container
        self.source = source
        endpoint = settings?.endpoint.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "https://\(account).blob.core.windows.net"
        if let reference = settings?.accountKey {
            guard let key = secret(reference), let shared = AzureSharedKey(account: account, base64Key: key) else {
                throw ModelError(.denied, source: source, "the account key is not resolved or not base64")
            }
            sharedKey = shared
        } else {
            sharedKey = nil
        }
        sas = settings?.sasToken.flatMap(secret).map { $0.hasPrefix("?") ? String($0.dropFirst()) : $0 }
    }

    func request(path: String, query: [(name: String, value: String)], headers extra: [String: String]) -> HTTPClientRequest {
        let base = URL(string: endpoint)
        let basePath = base?.path ?? ""
        let fullPath = basePath + path
        var queryText = query.map { "\(SigV4.uriEncode($0.name))=\(SigV4.uriEncode($0.value))" }.joined(separator: "&")
        if let sas { queryText += (queryText.isEmpty ? "" : "&") + sas }
        var request = HTTPClientRequest(url: endpoint + path + (queryText.isEmpty ? "" : "?" + queryText))
        var headers = extra
        headers["x-ms-version"] = Self.apiVersion
        headers["x-ms-date"] = Self.rfc1123(Date())
        if let sharedKey {
            headers["Authorization"] = sharedKey.authorization(method: "GET", path: fullPath, query: query, headers: headers)
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return request
    }

    public func list(prefix: String) async throws -> [ModelObject] {
        var objects: [ModelObject] = []
        var marker: String?
        repeat {
            var query: [(name: String, value: String)] = [("restype", "container"), ("comp", "list"), ("prefix", prefix)]
            if let marker { query.append(("marker", marker)) }
            let response: HTTPClientResponse
            do {
                response = try await ModelHTTP.client.execute(
                    request(path: "/\(container)", query: query, headers: [:]), timeout: ModelHTTP.headTimeout)
            } catch {
                throw ModelError(.unreachable, source: source, "cannot reach the store: \(error)")
            }
            let text = String(buffer: try await response.body.collect(upTo: 32 * 1024 * 1024))
            guard response.status == .ok else { throw ModelError.status(response.status, source: source, body: text) }
            guard let listing = ListingParser.parse(Data(text.utf8), recordElement: "Blob") else {
                throw ModelError(.invalid, source: source, "the store's listing is not valid XML")
            }
            for record in listing.records {
                guard let name = record["Name"] else { continue }
                objects.append(
                    ModelObject(
                        name: name, version: record["Etag"].map(EntityTag.version(fromHeader:)),
                        lastModified: record["Last-Modified"].flatMap(ModelDownloader.httpDate),
                        size: record["Content-Length"].flatMap { Int64($0) }))
            }
            marker = listing.topLevel["NextMarker"].flatMap { $0.isEmpty ? nil : $0 }
        } while marker != nil
        return objects
    }

    public func getRequest(name: String, range: Int64?, ifNoneMatch: String?, ifMatch: String?) throws -> HTTPClientRequest {
        var headers: [String: String] = [:]
        if let range { headers["x-ms-range"] = "bytes=\(range)-" }
        if let ifNoneMatch { headers["If-None-Match"] = EntityTag.header(forVersion: ifNoneMatch) }
        if let ifMatch { headers["If-Match"] = EntityTag.header(forVersion: ifMatch) }
        return request(path: "/\(container)/" + SigV4.uriEncode(name, keepSlash: true), query: [], headers: headers)
    }

    static func rfc1123(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}
