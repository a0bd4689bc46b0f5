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
    /// One pass over the bytes (every push is checked; String's `contains` and `split`
    /// compare by Unicode characters, several times the cost).
    public static func isValid(_ ref: String) -> Bool {
        let bytes = ref.utf8
        guard bytes.count <= 1024, bytes.starts(with: "refs/".utf8), bytes.last != UInt8(ascii: ".") else { return false }
        var previous: UInt8 = 0
        var componentStart = bytes.startIndex
        for index in bytes.indices {
            let byte = bytes[index]
            switch byte {
            case 0..<0x20, 0x7F, UInt8(ascii: " "), UInt8(ascii: "~"), UInt8(ascii: "^"), UInt8(ascii: ":"), UInt8(ascii: "?"),
                UInt8(ascii: "*"), UInt8(ascii: "["), UInt8(ascii: "\\"):
                return false
            case UInt8(ascii: ".") where previous == UInt8(ascii: "."): return false
            case UInt8(ascii: "{") where previous == UInt8(ascii: "@"): return false
            case UInt8(ascii: "/"):
                guard isValidComponent(bytes[componentStart..<index]) else { return false }
                componentStart = bytes.index(after: index)
            default: break
            }
            previous = byte
        }
        return isValidComponent(bytes[componentStart...])
    }

    private static func isValidComponent(_ component: Substring.UTF8View) -> Bool {
        !component.isEmpty && component.first != UInt8(ascii: ".") && !component.reversed().starts(with: "kcol.".utf8)
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
