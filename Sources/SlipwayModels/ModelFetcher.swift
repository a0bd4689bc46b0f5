import AsyncHTTPClient
import Foundation
import SlipwayCore

#if canImport(Glibc)
import Glibc
#endif

/// Resolves a model source to one object, and gets it into the cache unless it is there
/// already: the step the `model` build step and `watch` rely on.
public struct ModelFetcher: Sendable {
    public let cache: ModelCache
    let downloader: ModelDownloader

    public init(cache: ModelCache, downloader: ModelDownloader = ModelDownloader()) {
        self.cache = cache
        self.downloader = downloader
    }

    public struct Result: Sendable {
        public var entry: ModelCache.Entry
        public var provenance: ModelProvenance
        /// Bytes received over the network for this fetch (0 on a cache hit).
        public var transferred: Int64
        public var cacheHit: Bool
    }

    /// The store and the secrets of `model`, or an error naming the missing piece.
    public static func store(for model: ModelConfig, location: ModelLocation, secret: (SecretReference) -> String?) throws -> (
        any ModelStore
    )? {
        switch location.store {
        case .s3(let bucket):
            var credentials: (String, String, String?)?
            if let id = model.s3?.accessKeyID, let key = model.s3?.secretAccessKey {
                guard let idValue = secret(id), let keyValue = secret(key) else {
                    throw ModelError(.denied, source: location.source, "the S3 credentials are not resolved")
                }
                credentials = (idValue, keyValue, model.s3?.sessionToken.flatMap(secret))
            }
            return S3Store(bucket: bucket, settings: model.s3, credentials: credentials, source: location.source)
        case .azure(let account, let container):
            return try AzureBlobStore(
                account: account, container: container, settings: model.azure, secret: secret, source: location.source)
        case .http(let base):
            return HTTPModelStore(base: base, bearerToken: model.bearerToken.flatMap(secret), source: location.source)
        case .file:
            return nil
        }
    }

    /// Which object: the one named, or the newest of the listing.
    public func resolve(_ location: ModelLocation, store: (any ModelStore)?) async throws -> ModelObject {
        guard let pattern = location.pattern else {
            return ModelObject(name: location.path, version: nil, lastModified: nil, size: nil)
        }
        if store == nil {
            let directory = location.path
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            let objects = names.compactMap { name -> ModelObject? in
                let path = (directory.hasSuffix("/") ? directory : directory + "/") + name
                guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                    attributes[.type] as? FileAttributeType == .typeRegular
                else { return nil }
                return ModelObject(
                    name: path, version: nil, lastModified: attributes[.modificationDate] as? Date,
                    size: (attributes[.size] as? NSNumber)?.int64Value)
            }
            guard
                let newest = ModelObject.latest(
                    of: objects, prefix: directory.hasSuffix("/") ? directory : directory + "/", pattern: pattern)
            else {
                throw ModelError(.notFound, source: location.source, "no file matches \(pattern)")
            }
            return newest
        }
        let objects = try await store!.list(prefix: location.path)
        guard let newest = ModelObject.latest(of: objects, prefix: location.path, pattern: pattern) else {
            throw ModelError(.notFound, source: location.source, "no object matches \(pattern) under '\(location.path)'")
        }
        return newest
    }

    /// Gets `object` into the cache (or finds it there).
    public func fetch(_ location: ModelLocation, object: ModelObject, store: (any ModelStore)?) async throws -> Result {
        let objectID = Self.objectID(location, object)
        guard let store else { return try copyFile(object.name, objectID: objectID, source: location.source) }
        if let cached = cache.entry(object: objectID, version: object.version) {
            return Result(
                entry: cached, provenance: ModelProvenance(source: objectID, version: cached.version, sha256: cached.sha256),
                transferred: 0, cacheHit: true)
        }
        let previous = object.version == nil ? cache.lastEntry(object: objectID) : nil
        let temporary = try cache.temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let outcome = try await downloader.download(
            from: store, name: object.name, to: temporary, source: location.source,
            ifNoneMatch: previous?.version, expectedVersion: object.version)
        switch outcome {
        case .notModified:
            guard let previous else { throw ModelError(.invalid, source: location.source, "304 without a cached copy") }
            return Result(
                entry: previous, provenance: ModelProvenance(source: objectID, version: previous.version, sha256: previous.sha256),
                transferred: 0, cacheHit: true)
        case .downloaded(let sha256, let size, let transferred, let version, _, let storeCheck):
            let entry = try cache.store(
                file: temporary, object: objectID, version: version ?? object.version, sha256: sha256, size: size, storeCheck: storeCheck)
            return Result(
                entry: entry, provenance: ModelProvenance(source: objectID, version: entry.version, sha256: sha256),
                transferred: transferred, cacheHit: false)
        }
    }

    /// file:// sources: hashed while copied into the cache; the version is size + mtime.
    func copyFile(_ path: String, objectID: String, source: String) throws -> Result {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            throw ModelError(.notFound, source: source, "no such file")
        }
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
        let version = "\(size)-\(Int64(modified * 1000))"
        if let cached = cache.entry(object: objectID, version: version) {
            return Result(
                entry: cached, provenance: ModelProvenance(source: objectID, version: version, sha256: cached.sha256), transferred: 0,
                cacheHit: true)
        }
        let temporary = try cache.temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let input = open(path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw ModelError(.denied, source: source, "cannot read the file (errno \(errno))") }
        defer { close(input) }
        let output = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw ModelError(.invalid, source: source, "cannot write the cache") }
        defer { close(output) }
        let hasher = SHA256Stream()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total: Int64 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 { throw ModelError(.invalid, source: source, "read failed (errno \(errno))") }
            if n == 0 { break }
            try buffer.withUnsafeBytes { bytes in
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[0..<n])
                hasher.update(chunk)
                var offset = 0
                while offset < n {
                    let w = write(output, chunk.baseAddress! + offset, n - offset)
                    if w < 0 { throw ModelError(.invalid, source: source, "cannot write the cache (errno \(errno))") }
                    offset += w
                }
            }
            total += Int64(n)
        }
        let sha = hasher.finish()
        let entry = try cache.store(file: temporary, object: objectID, version: version, sha256: sha, size: total)
        return Result(
            entry: entry, provenance: ModelProvenance(source: objectID, version: version, sha256: sha), transferred: total, cacheHit: false)
    }

    /// Identifies an object across sources (the store plus the object's name); also the
    /// resolved source recorded on the build and in the image label.
    static func objectID(_ location: ModelLocation, _ object: ModelObject) -> String {
        switch location.store {
        case .s3(let bucket): "s3://\(bucket)/\(object.name)"
        case .azure(let account, let container): "azblob://\(account)/\(container)/\(object.name)"
        case .http(let base): "\(base)/\(object.name)"
        case .file: "file://\(object.name)"
        }
    }

}

extension ModelFetcher {
    /// The current version of what `location` names, for `watch`: the newest object's name
    /// and ETag from a listing, or for a single object a conditional GET whose body is not
    /// read (304 when `known` is still current).
    public func currentVersion(_ location: ModelLocation, store: (any ModelStore)?, known: String?) async throws -> String {
        let object = try await resolve(location, store: store)
        guard let store else {
            let attributes = try? FileManager.default.attributesOfItem(atPath: object.name)
            let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(object.name) \((attributes?[.size] as? NSNumber)?.int64Value ?? 0)-\(Int64(modified * 1000))"
        }
        if location.isLatest { return "\(object.name) \(object.version ?? "")" }
        let knownETag = known?.split(separator: " ", maxSplits: 1).last.map(String.init)
        let request = try store.getRequest(name: object.name, range: nil, ifNoneMatch: knownETag, ifMatch: nil)
        let response: HTTPClientResponse
        do {
            response = try await ModelHTTP.client.execute(request, timeout: ModelHTTP.headTimeout)
        } catch {
            throw ModelError(.unreachable, source: location.source, "cannot reach the store: \(error)")
        }
        switch response.status {
        case .notModified: return known ?? ""
        case .ok, .partialContent:
            guard let etag = response.headers.first(name: "ETag") else {
                throw ModelError(.invalid, source: location.source, "the store gives no ETag; it cannot be watched")
            }
            return "\(object.name) \(EntityTag.version(fromHeader: etag))"
        default:
            throw ModelError.status(response.status, source: location.source, body: "")
        }
    }
}
