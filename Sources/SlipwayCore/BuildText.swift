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

    /// `4.2s`, `3m05s`, `1h02m`; "-" when it has not started.
    public static func duration(from start: Double?, to end: Double?) -> String {
        guard let start else { return "-" }
        let seconds = max(0, (end ?? Date().timeIntervalSince1970) - start)
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let whole = Int(seconds)
        if whole < 3600 { return String(format: "%dm%02ds", whole / 60, whole % 60) }
        return String(format: "%dh%02dm", whole / 3600, (whole % 3600) / 60)
    }

    public static func branch(_ ref: String) -> String {
        for prefix in ["refs/heads/", "refs/tags/"] where ref.hasPrefix(prefix) { return String(ref.dropFirst(prefix.count)) }
        return ref
    }

    public static func short(_ sha: String) -> String { String(sha.prefix(7)) }
}
