import Foundation

/// Where a secret lives. Secrets are never written in the config file itself: a value is
/// `env:NAME` (an environment variable) or `file:PATH` (a file, e.g. a systemd credential).
public enum SecretReference: Sendable, Hashable, CustomStringConvertible {
    case environment(String)
    case file(String)

    /// Parses `env:NAME` or `file:PATH`; nil for anything else (a literal secret included).
    public init?(_ text: String) {
        if text.hasPrefix("env:") {
            let name = String(text.dropFirst(4))
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
            self = .environment(name)
        } else if text.hasPrefix("file:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { return nil }
            self = .file(path)
        } else {
            return nil
        }
    }

    /// For `file:PATH`, the path with `${NAME}` and a leading `$NAME/` expanded from
    /// `environment` (`$CREDENTIALS_DIRECTORY/token` under systemd); nil for `env:`.
    public func filePath(environment: [String: String]) -> String? {
        guard case .file(let path) = self else { return nil }
        var result = path
        for (name, value) in environment where result.contains("$") {
            result = result.replacingOccurrences(of: "${\(name)}", with: value)
            if result.hasPrefix("$\(name)/") { result = value + result.dropFirst(name.count + 1) }
        }
        return result
    }

    /// The reference as written; never the secret's value.
    public var description: String {
        switch self {
        case .environment(let name): "env:\(name)"
        case .file(let path): "file:\(path)"
        }
    }
}

/// Looks secret values up. The daemon's implementation reads the process environment
/// and files; tests may pass a dictionary.
public protocol SecretSource: Sendable {
    /// The value, or an error message naming the reference (never a value).
    func value(of reference: SecretReference) -> Result<String, SecretLookupError>
}

public struct SecretLookupError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reference: SecretReference
    public let reason: String
    public init(reference: SecretReference, reason: String) {
        self.reference = reference
        self.reason = reason
    }
    public var description: String { "\(reference): \(reason)" }
}
