/// A git commit id: 40 hexadecimal digits (SHA-1 repositories) or 64 (SHA-256
/// repositories), kept in lower case. Every layer that takes a commit id from outside
/// (a push, the operator API, `git ls-remote`, a stored row) makes one of these, so all
/// accept the same ids: a push that is accepted can also be checked out.
public struct CommitID: Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The id in lower-case hexadecimal.
    public let hex: String

    public init?(_ text: String) {
        // One pass over the bytes; a copy in lower case only when there is upper case
        // (every delivery makes one of these).
        let bytes = text.utf8
        guard bytes.count == 40 || bytes.count == 64 else { return nil }
        var hasUpperCase = false
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): continue
            case UInt8(ascii: "A")...UInt8(ascii: "F"): hasUpperCase = true
            default: return nil
            }
        }
        hex = hasUpperCase ? text.lowercased() : text
    }

    public init?(_ text: Substring) { self.init(String(text)) }

    /// For ids written in the code (tests, samples); a malformed literal is a programming error.
    public init(stringLiteral value: String) {
        guard let id = CommitID(value) else { preconditionFailure("'\(value)' is not a commit id (40 or 64 hexadecimal digits)") }
        self = id
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = CommitID(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "'\(text.prefix(80))' is not a commit id"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }

    public var description: String { hex }
    /// The first 7 digits, as git shows them.
    public var short: String { String(hex.prefix(7)) }

    /// What an operator or a tool is told when an id is refused.
    public static let expected = "40 or 64 hexadecimal digits"
}
