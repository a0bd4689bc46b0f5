import Foundation

/// The fields of a GitHub `push` delivery that Slipway acts on. Everything else in the
/// payload is ignored; nothing here is ever passed to a shell.
public struct PushEvent: Sendable, Equatable {
    public let ref: String
    public let before: String
    public let after: CommitID
    public let deleted: Bool
    public let repositoryFullName: String
    public let cloneURL: String?
    public let defaultBranch: String?
    public let headCommitMessage: String?
    public let pusher: String?

    /// `main` for `refs/heads/main`; nil for tags and other refs.
    public var branch: String? { GitRefName.branch(of: ref) }
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
    /// What a push is read for (also what `PayloadReducer` keeps of a large body).
    static let fields: JSONFieldReader.Keys = [
        "ref": .scalar, "before": .scalar, "after": .scalar, "deleted": .scalar,
        "repository": .object(["full_name": .scalar, "clone_url": .scalar, "default_branch": .scalar, "master_branch": .scalar]),
        "head_commit": .object(["message": .scalar]),
        "pusher": .object(["name": .scalar]),
    ]

    /// Decodes a push payload (JSON bytes). Throws a `PayloadError` naming what is missing.
    public static func decode(_ json: [UInt8]) throws(PayloadError) -> PushEvent {
        let top: JSONFieldReader.Object
        do {
            top = try JSONFieldReader.read(json, want: fields)
        } catch {
            throw PayloadError("payload is not valid JSON")
        }
        try refuseRepeatedKey(top)
        let ref = try requiredString(top, "ref")
        let afterText = try requiredString(top, "after")
        guard case .object(let repository)? = top["repository"] else {
            throw top["repository"] == nil
                ? PayloadError("push payload is missing 'repository'")
                : top["repository"] == .null
                    ? PayloadError("push payload field 'repository' is null")
                    : PayloadError("push payload field 'repository' has the wrong type")
        }
        try refuseRepeatedKey(repository, in: "repository.")
        let fullName = try requiredString(repository, "full_name", in: "repository.")
        guard RepositoryName.isValid(fullName) else { throw PayloadError("push payload field 'repository.full_name' is not an owner/name") }
        guard GitRefName.isValid(ref) else { throw PayloadError("push payload field 'ref' is not a valid git ref name") }
        guard let after = CommitID(afterText) else { throw PayloadError("push payload field 'after' is not a commit sha") }
        let deleted: Bool
        switch top["deleted"] {
        case .bool(let value)?: deleted = value
        case nil, .null?: deleted = after.hex.allSatisfy { $0 == "0" }
        default: throw PayloadError("push payload field 'deleted' has the wrong type")
        }
        let before = try optionalString(top, "before") ?? ""
        let cloneURL = try optionalString(repository, "clone_url", in: "repository.")
        let defaultBranch = try optionalString(repository, "default_branch", in: "repository.")
        let masterBranch = try optionalString(repository, "master_branch", in: "repository.")
        var message: String?
        if let commit = try nested(top, "head_commit") { message = try optionalString(commit, "message", in: "head_commit.") }
        var pusher: String?
        if let object = try nested(top, "pusher") { pusher = try optionalString(object, "name", in: "pusher.") }
        return PushEvent(
            ref: ref, before: before, after: after, deleted: deleted, repositoryFullName: fullName, cloneURL: cloneURL,
            defaultBranch: defaultBranch ?? masterBranch, headCommitMessage: message, pusher: pusher)
    }

    private static func refuseRepeatedKey(_ object: JSONFieldReader.Object, in path: String = "") throws(PayloadError) {
        if let key = object.repeatedKey { throw PayloadError("push payload field '\(path)\(key)' is given more than once") }
    }

    private static func requiredString(_ object: JSONFieldReader.Object, _ key: String, in path: String = "") throws(PayloadError) -> String
    {
        switch object[key] {
        case .string(let value)?: return value
        case nil: throw PayloadError("push payload is missing '\(path)\(key)'")
        case .null?: throw PayloadError("push payload field '\(path)\(key)' is null")
        default: throw PayloadError("push payload field '\(path)\(key)' has the wrong type")
        }
    }

    private static func optionalString(_ object: JSONFieldReader.Object, _ key: String, in path: String = "") throws(PayloadError)
        -> String?
    {
        switch object[key] {
        case .string(let value)?: return value
        case nil, .null?: return nil
        default: throw PayloadError("push payload field '\(path)\(key)' has the wrong type")
        }
    }

    private static func nested(_ object: JSONFieldReader.Object, _ key: String) throws(PayloadError) -> JSONFieldReader.Object? {
        switch object[key] {
        case .object(let value)?:
            try refuseRepeatedKey(value, in: "\(key).")
            return value
        case nil, .null?: return nil
        default: throw PayloadError("push payload field '\(key)' has the wrong type")
        }
    }
}

/// The repository a payload names, to choose the secrets its signature is checked with.
/// Read before the signature is verified, so it reads as little as it can: the bytes up
/// to the first `repository.full_name` (near the start of every GitHub payload), nothing
/// after it. A payload that names two repositories gains nothing by it: the full decode
/// after verification refuses repeated keys. Any event kind.
public enum PayloadRepository {
    public static func fullName(in json: [UInt8]) -> String? {
        JSONFieldReader.firstString(json, at: ["repository", "full_name"])
    }
}
