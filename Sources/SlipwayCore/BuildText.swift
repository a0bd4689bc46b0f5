import Foundation

/// How builds are written for people (CLI tables, build pages): times, durations,
/// branch names, short commit ids.
public enum BuildText {
    public static func time(_ seconds: Double?) -> String {
        guard let seconds else { return "-" }
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss zzz"
        formatter.locale = Locale(identifier: "en_US_POSIX")
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }

    /// How long a build ran (`DurationText.elapsed`); "-" when it has not started.
    public static func duration(from start: Double?, to end: Double?) -> String {
        guard let start else { return "-" }
        return DurationText.elapsed(seconds: (end ?? Date().timeIntervalSince1970) - start)
    }

    /// `main` for `refs/heads/main`, `v1` for `refs/tags/v1`, other refs whole.
    public static func branch(_ ref: String) -> String { GitRefName.shortName(ref) }

    public static func short(_ sha: String) -> String { String(sha.prefix(7)) }
}
