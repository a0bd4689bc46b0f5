/// Text from stored data (refs, names, reasons, build output) made safe to print on an
/// operator's terminal or in a log line: what a terminal would act on instead of showing
/// (ESC and every other C0 or C1 control, DEL, bidirectional overrides, line and
/// paragraph separators) is written out as `\x1B` / `\u{202E}`, so it is seen, never obeyed.
public enum TerminalText {
    /// Every such character escaped; with `keepingLineBreaks`, newlines and tabs stay
    /// (multi-line text: a reason, a message), else they are escaped too (a table cell).
    public static func escaped(_ text: String, keepingLineBreaks: Bool = false) -> String {
        func unsafe(_ scalar: Unicode.Scalar) -> Bool {
            isUnsafe(scalar) && !(keepingLineBreaks && (scalar == "\n" || scalar == "\t"))
        }
        guard text.unicodeScalars.contains(where: unsafe) else { return text }
        var result = ""
        result.unicodeScalars.reserveCapacity(text.unicodeScalars.count + 8)
        for scalar in text.unicodeScalars {
            if unsafe(scalar) { result += escape(scalar) } else { result.unicodeScalars.append(scalar) }
        }
        return result
    }

    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    static func escape(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return scalar.value < 0x80 ? "\\x" + (hex.count < 2 ? "0" + hex : hex) : "\\u{" + hex + "}"
    }
}
