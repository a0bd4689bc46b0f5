import Foundation
import SlipwayCore

/// Errors can carry the daemon's words and stored data: shown, never obeyed by the terminal.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((TerminalText.escaped(text, keepingLineBreaks: true) + "\n").utf8))
}

/// Writes at once, unbuffered: followed logs must appear as they arrive.
func writeOut(_ bytes: some Sequence<UInt8>) {
    FileHandle.standardOutput.write(Data(bytes))
}

/// A whole log: through `TerminalLogFilter` unless `raw`.
func writeLog(_ bytes: some Sequence<UInt8>, raw: Bool) {
    guard !raw else { return writeOut(bytes) }
    var filter = TerminalLogFilter()
    writeOut(filter.filter(bytes) + filter.finish())
}

/// A value from the daemon (stored data: names, refs, reasons) for a table or a field.
func shown(_ text: String) -> String { TerminalText.escaped(text) }

/// Plain-text tables, columns padded to their widest cell. Colour (build states) only
/// when stdout is a terminal and NO_COLOR is unset; padding ignores the escape codes.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []

    func render() -> String {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], Self.visibleWidth(cell)) } }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - Self.visibleWidth(cell))
            }.joined(separator: "  ").trimmingSuffix(" ")
        }.joined(separator: "\n") + "\n"
    }

    static func visibleWidth(_ text: String) -> Int {
        var width = 0
        var inEscape = false
        for scalar in text.unicodeScalars {
            if scalar == "\u{1B}" { inEscape = true } else if inEscape { if scalar == "m" { inEscape = false } } else { width += 1 }
        }
        return width
    }
}

enum Style {
    static let enabled = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil

    static func state(_ state: String) -> String {
        guard enabled else { return state }
        let code =
            switch state {
            case "success": "32"
            case "failure", "error": "31"
            case "running": "33"
            case "queued": "36"
            default: "90"
            }
        return "\u{1B}[\(code)m\(state)\u{1B}[0m"
    }
}

extension String {
    func trimmingSuffix(_ character: Character) -> String {
        var text = self
        while text.last == character { text.removeLast() }
        return text
    }
}
