import Foundation

/// Replaces configured secret values with `***` in text bound for a build log.
///
/// Multi-line secrets (a kubeconfig, a private key) are masked line by line, since logs
/// are masked a line at a time; lines shorter than `minimumLength` are not treated as
/// secrets, so a `{` line of a JSON credential file does not blank every brace.
public struct SecretMasker: Sendable {
    public static let minimumLength = 4
    private let needles: [String]

    public init(secrets: [String]) {
        var needles = Set<String>()
        for secret in secrets {
            for line in secret.split(whereSeparator: \.isNewline) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.count >= Self.minimumLength { needles.insert(trimmed) }
            }
        }
        self.needles = needles.sorted { $0.count > $1.count }
    }

    public func mask(_ text: String) -> String {
        guard !needles.isEmpty else { return text }
        var result = text
        for needle in needles where result.contains(needle) {
            result = result.replacingOccurrences(of: needle, with: "***")
        }
        return result
    }
}
