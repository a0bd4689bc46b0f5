/// What Slipway accepts as names from outside (payloads, the API, the config). Each is
/// refused at intake, so nothing stored can carry a control character or a path that
/// leaves its place.

/// A GitHub repository's `owner/name`: an owner of letters, digits, `-` and `_` (GitHub
/// Enterprise maps `_` into user names), up to 39; a name of letters, digits, `.`, `-`
/// and `_`, up to 100, and not `.` or `..`.
public enum RepositoryName {
    public static func isValid(_ text: String) -> Bool {
        let parts = text.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let owner = parts[0], name = parts[1]
        guard (1...39).contains(owner.count), owner.first != UInt8(ascii: "-"),
            owner.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
        else { return false }
        guard (1...100).contains(name.count), !name.elementsEqual(".".utf8), !name.elementsEqual("..".utf8),
            name.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
        else { return false }
        return true
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

/// A full git ref name (`refs/heads/main`), by `git check-ref-format`'s rules: no
/// control characters, space or `~^:?*[\`, no `..` or `@{`, no component that starts
/// with `.` or ends with `.lock`, no empty component, not ending in `.`; at most 1024 bytes.
public enum GitRefName {
    /// Made once: every push is checked.
    private static let forbidden = Set(" ~^:?*[\\".utf8)

    public static func isValid(_ ref: String) -> Bool {
        guard ref.hasPrefix("refs/"), ref.utf8.count <= 1024, !ref.contains(".."), !ref.contains("@{"), !ref.hasSuffix(".") else {
            return false
        }
        guard ref.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F && !forbidden.contains($0) }) else { return false }
        return ref.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { component in
            !component.isEmpty && !component.hasPrefix(".") && !component.hasSuffix(".lock")
        }
    }

    /// `main` for `refs/heads/main`; nil for tags and other refs.
    public static func branch(of ref: String) -> String? {
        ref.hasPrefix("refs/heads/") ? String(ref.dropFirst("refs/heads/".count)) : nil
    }

    /// The branch or tag name (`main`, `v1.2`); any other ref whole.
    public static func shortName(_ ref: String) -> String {
        for prefix in ["refs/heads/", "refs/tags/"] where ref.hasPrefix(prefix) { return String(ref.dropFirst(prefix.count)) }
        return ref
    }

    /// A ref as an operator may write it: `main` means `refs/heads/main`.
    public static func qualified(_ ref: String) -> String { ref.hasPrefix("refs/") ? ref : "refs/heads/\(ref)" }
}

/// A path from the config that must name something inside a directory (the checkout,
/// the build context): relative, and never above its start once `.` and `..` are
/// resolved (`a/../b` is fine, `a/../../b` is not).
public enum ContainedPath {
    /// The path's components with `.` and `..` resolved, or nil when it is absolute,
    /// empty or climbs out.
    public static func normalized(_ path: String) -> [Substring]? {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.utf8.contains(0) else { return nil }
        var components: [Substring] = []
        for component in path.split(separator: "/") {
            switch component {
            case ".": continue
            case "..":
                guard !components.isEmpty else { return nil }
                components.removeLast()
            default: components.append(component)
            }
        }
        return components
    }

    public static func isContained(_ path: String) -> Bool { normalized(path) != nil }
}
