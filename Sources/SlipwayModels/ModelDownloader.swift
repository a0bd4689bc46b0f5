import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SlipwayCore

#if canImport(Glibc)
import Glibc
#endif

/// Streams one object to a file with bounded memory: each chunk is hashed (SHA-256) and
/// written as it arrives. A dropped connection resumes with a Range request from the
/// last byte written; failures are retried with exponential backoff.
public struct ModelDownloader: Sendable {
    public var attempts = 5
    public var firstBackoff: Duration = .milliseconds(250)

    public init() {}

    public enum Outcome: Sendable {
        /// The store answered 304 to `ifNoneMatch`: the cached copy is current.
        case notModified
        /// `size` is the object's; `transferred` every body byte received, retries included;
        /// `storeCheck` what comparing with the store's own checksum found (`StoreChecksum`).
        case downloaded(sha256: String, size: Int64, transferred: Int64, version: String?, lastModified: Date?, storeCheck: String)
    }

    /// `bytesTransferred` counts body bytes received over the network, resumed parts included.
    public func download(
        from store: any ModelStore, name: String, to path: String, source: String, ifNoneMatch: String?,
        expectedVersion: String?, progress: @Sendable (Int64) -> Void = { _ in }
    ) async throws -> Outcome {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ModelError(.invalid, source: source, "cannot write \(path): errno \(errno)") }
        defer { close(fd) }
        var hasher = SHA256Stream()
        // The store's checksum of the whole object, from the full response it came with;
        // MD5 is computed beside SHA-256 only when that is what the store offers.
        var offered: StoreChecksum?
        var md5: SHA256Stream?
        var written: Int64 = 0
        var transferred: Int64 = 0
        var version = expectedVersion
        var lastModified: Date?
        var failure: ModelError?
        for attempt in 0..<attempts {
            if attempt > 0 {
                let backoff = firstBackoff * (1 << min(attempt - 1, 6))
                try await Task.sleep(for: backoff)
            }
            let resuming = written > 0
            let request = try store.getRequest(
                name: name, range: resuming ? written : nil,
                ifNoneMatch: resuming ? nil : ifNoneMatch, ifMatch: resuming ? version : nil)
            let response: HTTPClientResponse
            do {
                response = try await ModelHTTP.client.execute(request, timeout: ModelHTTP.headTimeout)
            } catch {
                failure = ModelError(.unreachable, source: source, "cannot reach the store: \(error)")
                continue
            }
            switch response.status {
            case .notModified where !resuming:
                return .notModified
            case .ok:
                if resuming {
                    // The store ignored the range (or the object changed): start over.
                    guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
                        throw ModelError(.invalid, source: source, "cannot rewind \(path)")
                    }
                    hasher = SHA256Stream()
                    written = 0
                }
                offered = StoreChecksum.offered(by: { response.headers.first(name: $0) }, s3: store.isS3)
                md5 = offered?.needsMD5 == true ? SHA256Stream(md5: true) : nil
            case .partialContent where resuming:
                break
            case .preconditionFailed where resuming:
                // Changed since the first part: start over without the condition.
                guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
                    throw ModelError(.invalid, source: source, "cannot rewind \(path)")
                }
                hasher = SHA256Stream()
                offered = nil
                md5 = nil
                written = 0
                version = nil
                failure = ModelError(.unreachable, source: source, "the object changed during the download")
                continue
            default:
                let body = (try? await response.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
                let error = ModelError.status(response.status, source: source, body: body)
                if response.status.code >= 500 || response.status.code == 429 {
                    failure = error
                    continue
                }
                throw error
            }
            if version == nil || !resuming {
                version =
                    response.headers.first(name: "ETag").map(EntityTag.version(fromHeader:)) ?? response.headers.first(
                        name: "x-amz-version-id") ?? version
            }
            lastModified = response.headers.first(name: "Last-Modified").flatMap(Self.httpDate) ?? lastModified
            let total = Self.totalLength(response.headers, alreadyWritten: written)
            do {
                for try await chunk in response.body {
                    try chunk.withUnsafeReadableBytes { bytes in
                        hasher.update(bytes)
                        md5?.update(bytes)
                        var offset = 0
                        while offset < bytes.count {
                            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                            if n < 0 { throw ModelError(.invalid, source: source, "cannot write \(path): errno \(errno)") }
                            offset += n
                        }
                    }
                    written += Int64(chunk.readableBytes)
                    transferred += Int64(chunk.readableBytes)
                    progress(Int64(chunk.readableBytes))
                }
            } catch let error as ModelError {
                throw error
            } catch {
                failure = ModelError(.unreachable, source: source, "connection dropped after \(written) bytes: \(error)")
                continue
            }
            if let total, written < total {
                failure = ModelError(.unreachable, source: source, "connection dropped after \(written) of \(total) bytes")
                continue
            }
            let sha256 = hasher.finish()
            var storeCheck = StoreChecksum.notOffered
            if let offered {
                if let problem = offered.mismatch(sha256: sha256, md5: md5?.finish()) {
                    throw ModelError(
                        .integrity, source: source, "the downloaded model does not match the store: \(problem) (altered in transit?)")
                }
                storeCheck = offered.matchedText
            }
            return .downloaded(
                sha256: sha256, size: written, transferred: transferred, version: version, lastModified: lastModified,
                storeCheck: storeCheck)
        }
        throw failure ?? ModelError(.unreachable, source: source, "download failed")
    }

    /// The object's full length: Content-Range's total, else Content-Length plus what is on disk.
    static func totalLength(_ headers: HTTPHeaders, alreadyWritten: Int64) -> Int64? {
        if let range = headers.first(name: "Content-Range"), let slash = range.lastIndex(of: "/") {
            return Int64(range[range.index(after: slash)...])
        }
        return headers.first(name: "Content-Length").flatMap { Int64($0) }.map { $0 + alreadyWritten }
    }

    static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}
