import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SlipwayCore

#if canImport(FoundationXML)
import FoundationXML
#endif

/// A blob store a model can come from (S3, Azure Blob, HTTPS). Each knows how to find the
/// object a source names (or the newest one) and how to ask for its bytes; downloading,
/// verifying and caching are the same for all (`ModelFetcher`).
public protocol ModelStore: Sendable {
    /// The object an exact source names is known without asking; a "latest" source is
    /// resolved by listing.
    func list(prefix: String) async throws -> [ModelObject]
    /// A GET for `name`; `range` resumes from that byte; `ifNoneMatch` / `ifMatch` make
    /// it conditional on the version.
    func getRequest(name: String, range: Int64?, ifNoneMatch: String?, ifMatch: String?) throws -> HTTPClientRequest
    /// The store is S3 (its ETag and `x-amz-checksum-sha256` can be checksums: `StoreChecksum`).
    var isS3: Bool { get }
}

extension ModelStore {
    public var isS3: Bool { false }
}

/// What went wrong, naming the source and never a credential.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case notFound, denied, unreachable, invalid, integrity }
    public let kind: Kind
    public let source: String
    public let message: String

    public init(_ kind: Kind, source: String, _ message: String) {
        self.kind = kind
        self.source = source
        self.message = message
    }

    public var description: String { "model \(source): \(message)" }

    static func status(_ status: HTTPResponseStatus, source: String, body: String) -> ModelError {
        let code = extractCode(body)
        switch status.code {
        case 404: return ModelError(.notFound, source: source, "not found (HTTP 404\(code))")
        case 401, 403:
            return ModelError(
                .denied, source: source, "access denied (HTTP \(status.code)\(code)); check the credentials configured for it")
        default: return ModelError(.unreachable, source: source, "HTTP \(status.code)\(code)")
        }
    }

    /// `<Code>SignatureDoesNotMatch</Code>` → ", SignatureDoesNotMatch"; nothing else of the body.
    static func extractCode(_ body: String) -> String {
        guard let start = body.range(of: "<Code>"), let end = body.range(of: "</Code>", range: start.upperBound..<body.endIndex) else {
            return ""
        }
        let code = body[start.upperBound..<end.lowerBound]
        return code.count < 64 && code.allSatisfy({ $0.isLetter || $0.isNumber }) ? ", \(code)" : ""
    }
}

/// Collects the text of named elements per repeated record element (`Contents`, `Blob`)
/// of an XML listing, plus top-level continuation markers.
final class ListingParser: NSObject, XMLParserDelegate {
    let recordElement: String
    private(set) var records: [[String: String]] = []
    private(set) var topLevel: [String: String] = [:]
    private var current: [String: String]?
    private var text = ""

    init(recordElement: String) { self.recordElement = recordElement }

    static func parse(_ data: Data, recordElement: String) -> ListingParser? {
        let parser = XMLParser(data: data)
        let delegate = ListingParser(recordElement: recordElement)
        parser.delegate = delegate
        return parser.parse() ? delegate : nil
    }

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]
    ) {
        if name == recordElement { current = [:] }
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == recordElement, let record = current {
            records.append(record)
            current = nil
        } else if current != nil {
            current?[name] = text
        } else {
            topLevel[name] = text
        }
        text = ""
    }
}

/// The HTTP client of model transfers: a connection must be up within 5 s and a stalled
/// transfer (no byte for 60 s) fails, so an unreachable store is reported in seconds and
/// retried, while a large download may take as long as it needs.
enum ModelHTTP {
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(60))
        configuration.connectionPool = .init(idleTimeout: .seconds(30))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Until the response head arrives.
    static let headTimeout: TimeAmount = .seconds(30)
}
