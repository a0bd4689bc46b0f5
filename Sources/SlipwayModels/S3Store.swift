import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SlipwayCore

/// S3 and S3-compatible stores (custom endpoint, path-style addressing), requests signed
/// with AWS Signature Version 4; anonymous when no keys are configured.
public struct S3Store: ModelStore {
    public var isS3: Bool { true }
    let bucket: String
    let region: String
    let endpoint: String?
    let pathStyle: Bool
    let signer: SigV4?
    let source: String

    public init(
        bucket: String, settings: ModelConfig.S3?, credentials: (accessKeyID: String, secretAccessKey: String, sessionToken: String?)?,
        source: String
    ) {
        self.bucket = bucket
        self.region = settings?.region ?? "us-east-1"
        self.endpoint = settings?.endpoint
        self.pathStyle = settings?.pathStyle ?? (settings?.endpoint != nil)
        self.source = source
        signer = credentials.map {
            SigV4(
                accessKeyID: $0.accessKeyID, secretAccessKey: $0.secretAccessKey, sessionToken: $0.sessionToken,
                region: settings?.region ?? "us-east-1")
        }
    }

    /// Scheme + host and the path prefix for the bucket.
    var base: (origin: String, host: String, bucketPath: String) {
        if let endpoint {
            let trimmed = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
            let host = trimmed.components(separatedBy: "://").last ?? trimmed
            if pathStyle { return (trimmed, host, "/\(bucket)") }
            let scheme = trimmed.hasPrefix("http://") ? "http://" : "https://"
            return ("\(scheme)\(bucket).\(host)", "\(bucket).\(host)", "")
        }
        if pathStyle { return ("https://s3.\(region).amazonaws.com", "s3.\(region).amazonaws.com", "/\(bucket)") }
        return ("https://\(bucket).s3.\(region).amazonaws.com", "\(bucket).s3.\(region).amazonaws.com", "")
    }

    func request(method: String, key: String?, query: [(name: String, value: String)], headers extra: [String: String]) -> HTTPClientRequest
    {
        let (origin, host, bucketPath) = base
        let path = bucketPath + "/" + (key.map { SigV4.uriEncode($0, keepSlash: true) } ?? "")
        let queryText = query.map { "\(SigV4.uriEncode($0.name))=\(SigV4.uriEncode($0.value))" }.joined(separator: "&")
        var request = HTTPClientRequest(url: origin + path + (queryText.isEmpty ? "" : "?" + queryText))
        request.method = HTTPMethod(rawValue: method)
        var headers = extra
        headers["host"] = host
        if let signer {
            let signed = signer.sign(
                SigV4.Request(method: method, path: path, query: query, headers: headers, payloadHash: SigV4.emptyPayloadHash), at: Date())
            headers.merge(signed) { $1 }
        }
        for (name, value) in headers where name != "host" { request.headers.add(name: name, value: value) }
        return request
    }

    /// Lists the objects under `prefix`. The prefix sent is cut before its first character
    /// that needs URL-encoding (`resnet/` → `resnet`) and the listing filtered here: some
    /// S3-compatible stores (moto among them) get the signature of an encoded query wrong.
    public func list(prefix: String) async throws -> [ModelObject] {
        var objects: [ModelObject] = []
        var token: String?
        let sent = String(prefix.prefix { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.~".contains($0)) })
        repeat {
            var query: [(name: String, value: String)] = [("list-type", "2"), ("prefix", sent)]
            if let token { query.append(("continuation-token", token)) }
            let response: HTTPClientResponse
            do {
                response = try await ModelHTTP.client.execute(
                    request(method: "GET", key: nil, query: query, headers: [:]), timeout: ModelHTTP.headTimeout)
            } catch {
                throw ModelError(.unreachable, source: source, "cannot reach the store: \(error)")
            }
            let body = try await response.body.collect(upTo: 32 * 1024 * 1024)
            let text = String(buffer: body)
            guard response.status == .ok else { throw ModelError.status(response.status, source: source, body: text) }
            guard let listing = ListingParser.parse(Data(text.utf8), recordElement: "Contents") else {
                throw ModelError(.invalid, source: source, "the store's listing is not valid XML")
            }
            for record in listing.records {
                guard let key = record["Key"], key.hasPrefix(prefix) else { continue }
                objects.append(
                    ModelObject(
                        name: key, version: record["ETag"].map(EntityTag.version(fromHeader:)),
                        lastModified: record["LastModified"].flatMap(Self.parseDate),
                        size: record["Size"].flatMap { Int64($0) }))
            }
            token = listing.topLevel["IsTruncated"] == "true" ? listing.topLevel["NextContinuationToken"] : nil
        } while token != nil
        return objects
    }

    public func getRequest(name: String, range: Int64?, ifNoneMatch: String?, ifMatch: String?) throws -> HTTPClientRequest {
        var headers: [String: String] = [:]
        if let range { headers["range"] = "bytes=\(range)-" }
        // The whole object's x-amz-checksum-sha256, when it was uploaded with one (`StoreChecksum`).
        if range == nil { headers["x-amz-checksum-mode"] = "ENABLED" }
        if let ifNoneMatch { headers["if-none-match"] = EntityTag.header(forVersion: ifNoneMatch) }
        if let ifMatch { headers["if-match"] = EntityTag.header(forVersion: ifMatch) }
        return request(method: "GET", key: name, query: [], headers: headers)
    }

    static func parseDate(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text)
    }
}

/// Plain HTTPS (or HTTP) with an optional bearer token; only exact URLs.
public struct HTTPModelStore: ModelStore {
    let base: String
    let bearerToken: String?
    let source: String

    public init(base: String, bearerToken: String?, source: String) {
        self.base = base
        self.bearerToken = bearerToken
        self.source = source
    }

    public func list(prefix: String) async throws -> [ModelObject] {
        throw ModelError(.invalid, source: source, "an https:// source names one file; it cannot be listed")
    }

    public func getRequest(name: String, range: Int64?, ifNoneMatch: String?, ifMatch: String?) throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: base + "/" + name)
        if let bearerToken { request.headers.add(name: "Authorization", value: "Bearer \(bearerToken)") }
        if let range { request.headers.add(name: "Range", value: "bytes=\(range)-") }
        if let ifNoneMatch { request.headers.add(name: "If-None-Match", value: EntityTag.header(forVersion: ifNoneMatch)) }
        if let ifMatch { request.headers.add(name: "If-Range", value: EntityTag.header(forVersion: ifMatch)) }
        return request
    }
}
