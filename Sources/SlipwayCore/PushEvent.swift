import Foundation

/// The fields of a GitHub `push` delivery that Slipway acts on. Everything else in the
/// payload is ignored; nothing here is ever passed to a shell.
public struct PushEvent: Sendable, Equatable {
    public let ref: String
    public let before: String
    public let after: String
    public let deleted: Bool
    public let repositoryFullName: String
    public let cloneURL: String?
    public let defaultBranch: String?
    public let headCommitMessage: String?
    public let pusher: String?

    /// `main` for `refs/heads/main`; nil for tags and other refs.
    public var branch: String? { ref.hasPrefix("refs/heads/") ? String(ref.dropFirst(11)) : nil }
    /// `v1.2` for `refs/tags/v1.2`.
    public var tag: String? { ref.hasPrefix("refs/tags/") ? String(ref.dropFirst(10)) : nil }
}

/// Why a payload could not be read, naming the field (never echoing the body).
public struct PayloadError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension PushEvent {
    private struct Wire: Decodable {
        struct Repository: Decodable {
            let full_name: String
            let clone_url: String?
            let default_branch: String?
            let master_branch: String?
        }
        struct Commit: Decodable { let message: String? }
        struct Pusher: Decodable { let name: String? }
        let ref: String
        let before: String?
        let after: String
        let deleted: Bool?
        let repository: Repository
        let head_commit: Commit?
        let pusher: Pusher?
    }

    /// Decodes a push payload (JSON bytes). Throws a `PayloadError` naming what is missing.
    public static func decode(_ json: [UInt8]) throws(PayloadError) -> PushEvent {
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(json))
        } catch let DecodingError.keyNotFound(key, context) {
            throw PayloadError("push payload is missing '\(path(context.codingPath + [key]))'")
        } catch let DecodingError.typeMismatch(_, context) {
            throw PayloadError("push payload field '\(path(context.codingPath))' has the wrong type")
        } catch let DecodingError.valueNotFound(_, context) {
            throw PayloadError("push payload field '\(path(context.codingPath))' is null")
        } catch {
            throw PayloadError("payload is not valid JSON")
        }
        guard isSHA(wire.after) else { throw PayloadError("push payload field 'after' is not a commit sha") }
        let deleted = wire.deleted ?? (wire.after.allSatisfy { $0 == "0" })
        return PushEvent(
            ref: wire.ref, before: wire.before ?? "", after: wire.after, deleted: deleted,
            repositoryFullName: wire.repository.full_name, cloneURL: wire.repository.clone_url,
            defaultBranch: wire.repository.default_branch ?? wire.repository.master_branch,
            headCommitMessage: wire.head_commit?.message, pusher: wire.pusher?.name)
    }

    static func isSHA(_ text: String) -> Bool {
        (text.count == 40 || text.count == 64) && text.allSatisfy { $0.isHexDigit }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}

/// The repository a payload names, read leniently so signatures can be checked against
/// that repository's secrets before the payload is trusted. Any event kind.
public enum PayloadRepository {
    public static func fullName(in json: [UInt8]) -> String? {
        struct Wire: Decodable {
            struct Repository: Decodable { let full_name: String }
            let repository: Repository?
        }
        return (try? JSONDecoder().decode(Wire.self, from: Data(json)))?.repository?.full_name
    }
}
