import Foundation

/// The forms a secret can take in a tool's output besides its own text, so the build log
/// masks those too: the credentials inside a registry auth file (`auths.*.auth`, its
/// decoded password, identity tokens), and each long line of a multi-line secret such as
/// an SSH key.
public enum SecretVariants {
    /// Shorter fragments are not masked: they would blank out ordinary words.
    static let shortest = 8

    public static func of(_ secret: String) -> [String] {
        var variants = [secret]
        let trimmed = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed != secret { variants.append(trimmed) }
        let lines = trimmed.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        if lines.count > 1 { variants += lines.filter { $0.count >= shortest && !$0.hasPrefix("-----") } }
        variants += registryCredentials(in: trimmed).filter { $0.count >= 4 }
        return variants.filter { !$0.isEmpty }
    }

    /// `{"auths": {"host": {"auth": base64(user:password), "identitytoken": ...}}}`.
    static func registryCredentials(in text: String) -> [String] {
        guard text.hasPrefix("{"), let data = text.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let auths = object["auths"] as? [String: Any]
        else { return [] }
        var found: [String] = []
        for case let entry as [String: Any] in auths.values {
            for key in ["auth", "password", "identitytoken", "registrytoken"] {
                if let value = entry[key] as? String, !value.isEmpty { found.append(value) }
            }
            if let auth = entry["auth"] as? String, let decoded = Data(base64Encoded: auth).flatMap({ String(data: $0, encoding: .utf8) }),
                let colon = decoded.firstIndex(of: ":")
            {
                found.append(String(decoded[decoded.index(after: colon)...]))
            }
        }
        return found
    }
}
