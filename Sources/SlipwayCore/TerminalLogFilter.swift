/// A build log on its way to an operator's terminal (`slipway logs`): build output is
/// untrusted, so only what a log needs reaches the terminal as is: text, newlines, tabs
/// and colour (SGR: `ESC [ digits ; … m`). Every other escape sequence (titles, OSC 52
/// clipboard writes, cursor moves that forge lines) and control character is written out
/// visibly (`\x1B]0;…`); a carriage return not before a newline becomes a newline, so a
/// line cannot be overwritten. Fed in chunks: a sequence split between two is kept whole.
public struct TerminalLogFilter: Sendable {
    private var pending: [UInt8] = []   // an escape sequence or a UTF-8 C1 lead byte, not yet complete
    private static let maxSGRLength = 64

    public init() {}

    public mutating func filter(_ chunk: some Sequence<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        var input = pending
        input.append(contentsOf: chunk)
        pending = []
        var index = 0
        while index < input.count {
            let byte = input[index]
            switch byte {
            case 0x1B:
                switch Self.sgrLength(input, from: index) {
                case .complete(let length):
                    output.append(contentsOf: input[index..<(index + length)])
                    index += length
                    continue
                case .incomplete:
                    pending = Array(input[index...])
                    return output
                case .notSGR:
                    output.append(contentsOf: Self.visible(byte))
                }
            case 0x0D:
                if index + 1 == input.count { pending = [byte]; return output }
                if input[index + 1] != 0x0A { output.append(0x0A) }
            case 0x0A, 0x09:
                output.append(byte)
            case 0x00...0x1F, 0x7F:
                output.append(contentsOf: Self.visible(byte))
            case 0xC2:   // U+0080…U+009F, the C1 controls, are C2 80…C2 9F in UTF-8
                if index + 1 == input.count { pending = [byte]; return output }
                if (0x80...0x9F).contains(input[index + 1]) {
                    output.append(contentsOf: Array(TerminalText.escape(Unicode.Scalar(input[index + 1])).utf8))
                    index += 2
                    continue
                }
                output.append(byte)
            default:
                output.append(byte)
            }
            index += 1
        }
        return output
    }

    /// What is left at the end of the log, shown visibly.
    public mutating func finish() -> [UInt8] {
        defer { pending = [] }
        return pending.flatMap { $0 == 0x0D ? [0x0A] : $0 < 0x20 ? Self.visible($0) : [$0] }
    }

    private enum SGR { case complete(Int), incomplete, notSGR }

    private static func sgrLength(_ input: [UInt8], from start: Int) -> SGR {
        var index = start + 1
        guard index < input.count else { return .incomplete }
        guard input[index] == UInt8(ascii: "[") else { return .notSGR }
        index += 1
        while index < input.count, index - start < maxSGRLength {
            let byte = input[index]
            if byte == UInt8(ascii: "m") { return .complete(index - start + 1) }
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ";") else { return .notSGR }
            index += 1
        }
        return index - start < maxSGRLength ? .incomplete : .notSGR
    }

    private static func visible(_ byte: UInt8) -> [UInt8] {
        Array(TerminalText.escape(Unicode.Scalar(byte)).utf8)
    }
}
