import Foundation
import SlipwayCore

/// Downloaded models under `state_dir/models`, keyed by the object (source + name) and its
/// version (ETag), with the last version seen per object for conditional requests.
///
/// ```
/// models/objects/<sha256(object "\n" version)>/model      the bytes
/// models/objects/<...>/meta.json                           source, name, version, sha256, size
/// models/latest/<sha256(object)>.json                      the last version of that object
/// ```
public struct ModelCache: Sendable {
    public let root: String

    public init(stateDirectory: String) { root = stateDirectory + "/models" }

    public struct Entry: Codable, Sendable, Equatable {
        public var object: String
        public var version: String?
        public var sha256: String
        public var size: Int64
        public var path: String
        /// What comparing with the store's own checksum found when it was downloaded
        /// (`StoreChecksum`); nil for a file:// source or an entry of an older version.
        public var storeCheck: String?
    }

    func key(_ text: String) -> String { Crypto.sha256(Array(text.utf8)).hexString }

    func directory(object: String, version: String) -> String { "\(root)/objects/\(key(object + "\n" + version))" }

    public func entry(object: String, version: String?) -> Entry? {
        guard let version else { return nil }
        let directory = directory(object: object, version: version)
        guard let data = FileManager.default.contents(atPath: directory + "/meta.json"),
            let entry = try? JSONDecoder().decode(Entry.self, from: data),
            FileManager.default.fileExists(atPath: entry.path)
        else { return nil }
        return entry
    }

    /// The newest cached entry of an object (for If-None-Match).
    public func lastEntry(object: String) -> Entry? {
        guard let data = FileManager.default.contents(atPath: "\(root)/latest/\(key(object)).json"),
            let entry = try? JSONDecoder().decode(Entry.self, from: data)
        else { return nil }
        return self.entry(object: entry.object, version: entry.version)
    }

    /// A scratch file on the cache's file system, so storing is a rename.
    public func temporaryFile() throws -> String {
        try FileManager.default.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: true)
        return "\(root)/tmp/\(UUID().uuidString).part"
    }

    /// Moves `file` into the cache (rename: atomic) and records it as the object's latest.
    public func store(file: String, object: String, version: String?, sha256: String, size: Int64, storeCheck: String? = nil) throws
        -> Entry
    {
        let directory = directory(object: object, version: version ?? "sha256:" + sha256)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/model"
        if rename(file, path) != 0 { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        let entry = Entry(
            object: object, version: version ?? "sha256:" + sha256, sha256: sha256, size: size, path: path, storeCheck: storeCheck)
        let data = try JSONEncoder().encode(entry)
        try data.write(to: URL(fileURLWithPath: directory + "/meta.json"), options: .atomic)
        try FileManager.default.createDirectory(atPath: root + "/latest", withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: "\(root)/latest/\(key(object)).json"), options: .atomic)
        return entry
    }
}
