import Foundation
import SlipwayCore

/// The daemon's log stream: standard error, one write per line, with every control
/// character inside the line escaped (`TerminalText`), so a value from outside (a ref,
/// a payload's repository name, a tool's message) can neither forge a log line nor send
/// escape sequences to an admin's terminal.
struct EscapingStandardError: TextOutputStream, Sendable {
    mutating func write(_ string: String) {
        let line = string.hasSuffix("\n") ? TerminalText.escaped(String(string.dropLast())) + "\n" : TerminalText.escaped(string)
        FileHandle.standardError.write(Data(line.utf8))
    }
}
