/// Sizes as the config writes them: a whole number of bytes (`1048576`), or a number with
/// a unit. Binary units `KiB`, `MiB`, `GiB`, `TiB` (and systemd's `K`, `M`, `G`, `T`) are
/// powers of 1024; decimal `kB`/`KB`, `MB`, `GB`, `TB` are powers of 1000.
public enum ByteSizeText {
    public static func parse(_ text: String) -> Int? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Int(digits) else { return nil }
        let unit = text.dropFirst(digits.count).trimmingPrefix(" ")
        let multiplier: Int
        switch unit {
        case "", "B": multiplier = 1
        case "K", "KiB": multiplier = 1 << 10
        case "M", "MiB": multiplier = 1 << 20
        case "G", "GiB": multiplier = 1 << 30
        case "T", "TiB": multiplier = 1 << 40
        case "kB", "KB": multiplier = 1_000
        case "MB": multiplier = 1_000_000
        case "GB": multiplier = 1_000_000_000
        case "TB": multiplier = 1_000_000_000_000
        default: return nil
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : bytes
    }

    /// For people: `512 B`, `1.2 kB`, `500.1 MB` (decimal units, one decimal).
    public static func format(_ bytes: Int64) -> String {
        guard bytes >= 1_000 else { return "\(bytes) B" }
        var value = Double(bytes)
        for unit in ["kB", "MB", "GB", "TB"] {
            value /= 1_000
            if value < 999.95 || unit == "TB" {
                let tenths = Int64((value * 10).rounded())
                return "\(tenths / 10).\(tenths % 10) \(unit)"
            }
        }
        return "\(bytes) B"
    }
}
