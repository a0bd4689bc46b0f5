import Foundation

/// Where a model lives (`model.source`), and whether it names one object or asks for the
/// newest of several: a source ending in `/` or holding a glob (`*`, `?`, `[`) in its last
/// segment means "latest".
public struct ModelLocation: Sendable, Equatable {
    public enum Store: Sendable, Equatable {
        case s3(bucket: String)
        case azure(account: String, container: String)
        case http(base: String)
        case file
    }

    public let store: Store
    /// The object key / blob name / URL path / file path, or for "latest" the fixed part
    /// before the last segment.
    public let path: String
    /// For "latest": the glob the last segment must match (`*` for a trailing `/`).
    public let pattern: String?
    public let source: String

    public var isLatest: Bool { pattern != nil }

    public init?(_ source: String) {
        self.source = source
        let rest: Substring
        let store: Store
        if source.hasPrefix("s3://") {
            let body = source.dropFirst(5)
            guard let slash = body.firstIndex(of: "/"), slash != body.startIndex else { return nil }
            store = .s3(bucket: String(body[..<slash]))
            rest = body[body.index(after: slash)...]
        } else if source.hasPrefix("azblob://") {
            let parts = source.dropFirst(9).split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
            store = .azure(account: String(parts[0]), container: String(parts[1]))
            rest = parts[2]
        } else if source.hasPrefix("https://") || source.hasPrefix("http://") {
            let scheme = source.hasPrefix("https://") ? 8 : 7
            let body = source.dropFirst(scheme)
            guard let slash = body.firstIndex(of: "/") else { return nil }
            store = .http(base: String(source.prefix(scheme)) + body[..<slash])
            rest = body[body.index(after: slash)...]
        } else if source.hasPrefix("file://") {
            store = .file
            rest = source.dropFirst(7)
        } else {
            return nil
        }
        self.store = store
        let text = String(rest)
        if text.isEmpty || text.hasSuffix("/") {
            path = text
            pattern = "*"
        } else if let slash = text.lastIndex(of: "/"), text[text.index(after: slash)...].contains(where: { "*?[".contains($0) }) {
            path = String(text[...slash])
            pattern = String(text[text.index(after: slash)...])
        } else if !text.contains("/"), text.contains(where: { "*?[".contains($0) }) {
            path = ""
            pattern = text
        } else {
            path = text
            pattern = nil
        }
        if case .file = store, !path.hasPrefix("/") { return nil }
        if case .http = store, pattern != nil { return nil }
    }
}

/// One object of a listing (or the single object named).
public struct ModelObject: Sendable, Equatable {
    /// Key / blob name / URL / path.
    public var name: String
    /// ETag (quotes kept as the store gives them) or version id; nil when the store has none.
    public var version: String?
    public var lastModified: Date?
    public var size: Int64?

    public init(name: String, version: String?, lastModified: Date?, size: Int64?) {
        self.name = name
        self.version = version
        self.lastModified = lastModified
        self.size = size
    }

    /// "Latest": the newest by last-modified among those whose last segment matches
    /// `pattern`; ties go to the greatest name (`v10` after `v9` only if so named).
    public static func latest(of objects: [ModelObject], prefix: String, pattern: String) -> ModelObject? {
        objects.filter { object in
            guard object.name.hasPrefix(prefix), !object.name.hasSuffix("/") else { return false }
            let rest = String(object.name.dropFirst(prefix.count))
            return !rest.contains("/") && Glob.matches(pattern, rest)
        }.max { a, b in
            let left = a.lastModified ?? .distantPast, right = b.lastModified ?? .distantPast
            return left == right ? a.name < b.name : left < right
        }
    }
}
