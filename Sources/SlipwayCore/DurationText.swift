import Foundation

/// Durations as the config writes them: a whole number and a unit, `90s`, `30m`, `2h`,
/// `1d`, or combined (`1h30m`). Milliseconds as `500ms`.
public enum DurationText {
    public static func parse(_ text: String) -> Duration? {
        var total: Int64 = 0
        var digits = ""
        var index = text.startIndex
        var sawUnit = false
        while index < text.endIndex {
            let c = text[index]
            if c.isASCII, c.isNumber {
                digits.append(c)
                index = text.index(after: index)
                continue
            }
            guard let value = Int64(digits) else { return nil }
            let rest = text[index...]
            let multiplier: Int64
            if rest.hasPrefix("ms") {
                multiplier = 1
                index = text.index(index, offsetBy: 2)
            } else {
                switch c {
                case "s": multiplier = 1000
                case "m": multiplier = 60_000
                case "h": multiplier = 3_600_000
                case "d": multiplier = 86_400_000
                default: return nil
                }
                index = text.index(after: index)
            }
            let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
            guard !overflow else { return nil }
            total += product
            digits = ""
            sawUnit = true
        }
        guard sawUnit, digits.isEmpty else { return nil }
        return .milliseconds(total)
    }

    /// The shortest text that parses back to `duration` (whole milliseconds).
    public static func format(_ duration: Duration) -> String {
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }

    /// How long something took, for people (build logs, pages, the CLI, commit statuses):
    /// `0.4s`, `12s`, `3m05s`, `1h02m`. The one such format of the project.
    public static func elapsed(_ duration: Duration) -> String { elapsed(seconds: duration.inSeconds) }

    public static func elapsed(seconds: Double) -> String {
        let seconds = max(0, seconds)
        if seconds < 10 { return String(format: "%.1fs", seconds) }
        let whole = Int(seconds.rounded(.down))
        if whole < 60 { return "\(whole)s" }
        if whole < 3600 { return String(format: "%dm%02ds", whole / 60, whole % 60) }
        return String(format: "%dh%02dm", whole / 3600, (whole % 3600) / 60)
    }
}

extension Duration {
    /// The duration in seconds, fractions included.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// The duration in whole nanoseconds (a timer's unit, a dispatch deadline's).
    public var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
