import Foundation

/// Image tag templates such as `{sha}` or `{branch}-{short_sha}`, filled per build.
public enum TagTemplate {
    public static let placeholders = ["{sha}", "{short_sha}", "{branch}", "{model_version}"]

    public static func isValid(_ template: String) -> Bool {
        var rest = template
        for placeholder in placeholders { rest = rest.replacingOccurrences(of: placeholder, with: "x") }
        return !rest.isEmpty && !rest.contains("{") && !rest.contains("}")
            && rest.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    /// Fills the placeholders and makes the result a valid OCI tag: characters outside
    /// `[A-Za-z0-9_.-]` become `-` (a branch `feature/x` gives `feature-x`), at most 128.
    public static func render(_ template: String, values: [String: String]) -> String {
        var text = template
        for (key, value) in values { text = text.replacingOccurrences(of: "{\(key)}", with: value) }
        var tag = String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "-" })
        if tag.first == "." || tag.first == "-" { tag = "_" + tag.dropFirst() }
        return String(tag.prefix(128))
    }
}
