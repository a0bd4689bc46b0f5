import Foundation

/// An image name as container tools write it: `HOST[:PORT]/PATH[:TAG][@sha256:…]`. The
/// host is the first component when it has a `.` or a `:` or is `localhost`; otherwise
/// the image is on Docker Hub (`docker.io`, `library/` for one-component names).
public struct ImageReference: Sendable, Equatable {
    /// As written: `registry.example.com:5000`, `docker.io`.
    public var host: String
    /// The repository inside the registry: `acme/model-app`.
    public var repository: String
    public var tag: String?
    public var digest: String?

    public init?(_ text: String) {
        var rest = Substring(text)
        if let at = rest.firstIndex(of: "@") {
            let digest = String(rest[rest.index(after: at)...])
            guard Self.isDigest(digest) else { return nil }
            self.digest = digest
            rest = rest[..<at]
        }
        let components = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard let first = components.first, !first.isEmpty, components.allSatisfy({ !$0.isEmpty }) else { return nil }
        var path: ArraySlice<Substring>
        if components.count > 1, first.contains(".") || first.contains(":") || first == "localhost" {
            host = String(first)
            path = components.dropFirst()
        } else {
            host = "docker.io"
            path = components.count == 1 ? ["library", first] : components[...]
        }
        if let last = path.last, let colon = last.lastIndex(of: ":") {
            tag = String(last[last.index(after: colon)...])
            path[path.endIndex - 1] = last[..<colon]
        }
        repository = path.joined(separator: "/")
        guard repository.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || "._-/".contains($0)) }),
            tag.map({ !$0.isEmpty && $0.count <= 128 }) ?? true
        else { return nil }
    }

    /// The host to speak the registry API to (Docker Hub's API is not on `docker.io`).
    public var apiHost: String { host == "docker.io" ? "registry-1.docker.io" : host }

    /// `sha256:` and 64 lowercase hex digits.
    public static func isDigest(_ text: String) -> Bool {
        text.hasPrefix("sha256:") && text.count == 71 && text.dropFirst(7).allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}

/// The credentials for a registry in a containers-auth.json / docker config.json file:
/// `{"auths": {"HOST": {"auth": base64("user:password")}}}` (keys may also be written
/// `https://HOST` or `HOST/v1/`), or `username` and `password` fields.
public enum RegistryCredentials {
    public static func find(host: String, inAuthFile json: Data) -> (user: String, password: String)? {
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
            let auths = object["auths"] as? [String: Any]
        else { return nil }
        for (key, value) in auths where normalized(key) == host {
            guard let entry = value as? [String: Any] else { continue }
            if let user = entry["username"] as? String, let password = entry["password"] as? String { return (user, password) }
            if let encoded = entry["auth"] as? String, let data = Data(base64Encoded: encoded),
                let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
            {
                return (String(text[..<colon]), String(text[text.index(after: colon)...]))
            }
        }
        return nil
    }

    static func normalized(_ key: String) -> String {
        var text = Substring(key)
        for scheme in ["https://", "http://"] where text.hasPrefix(scheme) { text = text.dropFirst(scheme.count) }
        return String(text.prefix { $0 != "/" })
    }
}

/// The registries a registries.conf marks `insecure` (plain HTTP or an unverified
/// certificate): `[[registry]]` tables with `location = "HOST"` and `insecure = true`,
/// and the version 1 `[registries.insecure] registries = ["HOST", …]`.
public enum InsecureRegistries {
    public static func parse(_ text: String) -> Set<String> {
        var result: Set<String> = []
        var table = ""
        var location: String?
        var insecure = false
        func closeRegistry() {
            if table == "[[registry]]", insecure, let location { result.insert(location) }
            location = nil
            insecure = false
        }
        for raw in text.split(whereSeparator: \.isNewline) {
            let line =
                raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?
                .trimmingCharacters(in: .whitespaces) ?? ""
            if line.hasPrefix("[") {
                closeRegistry()
                table = line.replacingOccurrences(of: " ", with: "")
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            switch (table, key) {
            case ("[[registry]]", "location"): location = value.trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            case ("[[registry]]", "insecure"): insecure = value == "true"
            case ("[registries.insecure]", "registries"):
                for item in value.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ",") {
                    let host = item.trimmingCharacters(in: CharacterSet(charactersIn: "\"' "))
                    if !host.isEmpty { result.insert(host) }
                }
            default: break
            }
        }
        closeRegistry()
        return result
    }
}

/// A `WWW-Authenticate` challenge: `Basic realm="x"` or
/// `Bearer realm="https://auth/token",service="registry",scope="repository:a/b:pull"`.
public struct AuthChallenge: Sendable, Equatable {
    public var scheme: String
    public var parameters: [String: String]

    public init?(header: String) {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") else {
            guard !trimmed.isEmpty else { return nil }
            scheme = trimmed.lowercased()
            parameters = [:]
            return
        }
        scheme = trimmed[..<space].lowercased()
        parameters = [:]
        var rest = trimmed[trimmed.index(after: space)...]
        while let equals = rest.firstIndex(of: "=") {
            let key = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: ", ")).lowercased()
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                let end = rest.firstIndex(of: "\"") ?? rest.endIndex
                value = String(rest[..<end])
                rest = end < rest.endIndex ? rest[rest.index(after: end)...] : rest[end...]
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = rest[..<end].trimmingCharacters(in: .whitespaces)
                rest = rest[end...]
            }
            parameters[key] = value
        }
    }
}
