/// Streams a JSON document and keeps only the wanted keys (a `JSONFieldReader.Keys` tree),
/// producing a small JSON document that `JSONFieldReader.read(_, want:)` reads to the same
/// result as reading the original would. The webhook route feeds it the body chunk by chunk
/// while hashing it, so what it holds before the signature is checked is small and fixed:
/// the nesting (a bit a level), one key being compared, and the kept fields.
///
/// What is kept: every occurrence of a wanted key (so a repeated key is still seen), written
/// as it came, escapes included, so the reader decodes and matches it the same way; a string,
/// `true`, `false` or `null` value as it came; an object wanted as `.object` reduced in turn;
/// any other value (a number, an array, an object not wanted as one) as `0`, which the
/// reader reads as `.other` too. Whitespace and everything else are dropped.
///
/// The document is checked as strictly as `JSONFieldReader` checks it, byte for byte the same
/// rules (a top-level object, `01`, `1.`, control characters and bad escapes refused, a high
/// surrogate escape followed by `\u` must be followed by a low one, at most
/// `JSONFieldReader.maxDepth` arrays and objects deep), so a reduced document exists exactly
/// when the original would have been read.
public struct PayloadReducer {
    public enum Problem: Error, Equatable, Sendable {
        /// Not a JSON document `JSONFieldReader` reads (including an empty or cut-off body).
        case invalidJSON
        /// The wanted fields came to more than `maxKeptBytes` (a body repeating a wanted key
        /// to make the reducer hold it all). The rest of the body is still checked: an invalid
        /// document is reported as `.invalidJSON` instead.
        case tooLarge
        /// Nested deeper than `JSONFieldReader.maxDepth`, everything before being valid. The
        /// reader refuses such a document as invalid: treat it as `.invalidJSON`.
        case tooDeep
    }

    /// The wanted-key tree, flattened: making it is most of what setting up a reducer costs
    /// (about 1 µs), so a caller reducing many bodies makes it once, beside its `Keys`.
    struct Plan: Sendable {
        fileprivate let nodes: [Node]
        fileprivate let longestKeyLimit: Int

        init(_ want: JSONFieldReader.Keys) {
            var nodes: [Node] = []
            PayloadReducer.flatten(want, into: &nodes)
            self.nodes = nodes
            longestKeyLimit = nodes.map(\.keyLimit).max() ?? 0
        }
    }

    /// One object's wanted keys, flattened out of the `Keys` tree so that a kept object is
    /// an index into `nodes`.
    fileprivate struct Node: Sendable {
        var entries: [(name: String, bytes: [UInt8], child: Int?)] = []   // child: the node of a key wanted as an object
        /// Raw key bytes worth holding to compare a key with these (see `keyLimit(for:)`).
        var keyLimit = 0
    }

    /// What to keep of the value after a key.
    private enum Keep: Equatable { case nothing, scalar, object(node: Int) }

    private enum Mode: UInt8 {
        case beforeDocument, objectStart, keyStart, colon, valueStart, arrayStart, afterValue, afterDocument
        case string, literal
        // A number, as `JSONFieldReader.number()` reads it: after the minus sign, after a
        // leading zero, in the integer digits, after the point, in the fraction, after the
        // `e`, after its sign, in the exponent digits.
        case minus, zero, integer, point, fraction, exponentMark, exponentSign, exponent
        case failed
    }

    /// Where in an escape sequence a string is.
    private enum Escape: UInt8 { case none, backslash, hex, lowHex, afterHigh, afterHighBackslash }

    /// What the string being read is, for what to do with its bytes.
    private enum Role: UInt8 { case skippedKey, keptKey, skippedValue, keptValue }

    private let nodes: [Node]
    private let maxKeptBytes: Int

    private var mode = Mode.beforeDocument
    private var problem: Problem?
    private var tooLarge = false
    /// The reduced document so far.
    private var out: [UInt8] = []

    // Nesting: a bit a level, set for an array. Kept objects are always the outermost levels
    // (a kept object is only ever inside another), so their nodes are a short stack.
    private var depth = 0
    private var arrayLevels = [UInt64](repeating: 0, count: (JSONFieldReader.maxDepth + 63) / 64)
    private var keptNodes: [Int] = []
    /// Whether the innermost level is an array (the bit above, read on every `,`).
    private var inArray = false
    /// Whether the innermost level is a kept object with wanted keys, whose keys are compared,
    /// and its `keyLimit`.
    private var comparesKeys = false
    private var keyLimit = 0

    // The string being read.
    private var role = Role.skippedValue
    private var escape = Escape.none
    private var hexLeft = 0
    private var hexValue: UInt32 = 0
    /// A key of a kept object cut by a chunk's end, raw (escapes undecoded), while it may
    /// still be a wanted one. A key whole in one chunk is compared where it is.
    private var key: [UInt8] = []
    private var keyCut = false
    private var keyTooLong = false
    private var keyHasEscape = false
    private var pending = Keep.nothing

    /// The bytes still expected of `true`, `false` or `null`, the next one lowest.
    private var literalRest: UInt32 = 0

    init(want: JSONFieldReader.Keys, maxKeptBytes: Int = 1 << 20) {
        self.init(plan: Plan(want), maxKeptBytes: maxKeptBytes)
    }

    init(plan: Plan, maxKeptBytes: Int = 1 << 20) {
        nodes = plan.nodes
        self.maxKeptBytes = maxKeptBytes
        key.reserveCapacity(plan.longestKeyLimit)
        out.reserveCapacity(min(maxKeptBytes, 1024))
    }

    @discardableResult
    fileprivate static func flatten(_ keys: JSONFieldReader.Keys, into nodes: inout [Node]) -> Int {
        let index = nodes.count
        nodes.append(Node())
        var node = Node()
        for entry in keys.entries {
            var child: Int?
            if case .object(let nested) = entry.want { child = flatten(nested, into: &nodes) }
            node.entries.append((entry.name, entry.bytes, child))
            node.keyLimit = max(node.keyLimit, keyLimit(for: entry.name))
        }
        nodes[index] = node
        return index
    }

    /// The longest raw key that can still match `name`. Without escapes a key matches by its
    /// bytes, so it is no longer than the name. With escapes the reader decodes it and compares
    /// Strings, which is canonical equivalence ("\u212A", the Kelvin sign, equals "K"): the
    /// decoded key has at most as many scalars as the name's canonical decomposition (every
    /// scalar decomposes to at least one), each written in at most 12 raw bytes (a surrogate
    /// pair escape), and a decomposition is at most 4 scalars a scalar (1 for ASCII).
    private static func keyLimit(for name: String) -> Int {
        let decomposed = name.utf8.allSatisfy { $0 < 0x80 } ? name.utf8.count : 4 * name.unicodeScalars.count
        return max(name.utf8.count, 12 * decomposed)
    }

    // MARK: Feeding

    /// Reads the next bytes of the document. After a problem it only returns.
    mutating func consume(_ chunk: UnsafeRawBufferPointer) {
        var index = 0
        do {
            while index < chunk.count {
                switch mode {
                case .failed: return
                case .string: index = try string(chunk, from: index)
                default:
                    try step(chunk[index])
                    index += 1
                }
            }
        } catch {
            fail(error)
        }
    }

    /// The reduced document, or why there is none.
    mutating func finish() -> Result<[UInt8], Problem> {
        if let problem { return .failure(problem) }
        guard mode == .afterDocument else { return .failure(.invalidJSON) }
        if tooLarge { return .failure(.tooLarge) }
        return .success(out)
    }

    private mutating func fail(_ problem: Problem) {
        self.problem = problem
        mode = .failed
        out = []
        key = []
    }

    // MARK: Structure

    /// One byte outside strings.
    private mutating func step(_ byte: UInt8) throws(Problem) {
        switch mode {
        case .beforeDocument:
            if Self.isWhitespace(byte) { return }
            guard byte == UInt8(ascii: "{") else { throw .invalidJSON }
            try open(array: false, kept: 0)
        case .objectStart:
            if Self.isWhitespace(byte) { return }
            if byte == UInt8(ascii: "}") { return close() }
            try startKey(byte)
        case .keyStart:
            if Self.isWhitespace(byte) { return }
            try startKey(byte)
        case .colon:
            if Self.isWhitespace(byte) { return }
            guard byte == UInt8(ascii: ":") else { throw .invalidJSON }
            mode = .valueStart
        case .valueStart:
            if Self.isWhitespace(byte) { return }
            try startValue(byte)
        case .arrayStart:
            if Self.isWhitespace(byte) { return }
            if byte == UInt8(ascii: "]") { return close() }
            try startValue(byte)
        case .afterValue: try afterValue(byte)
        case .literal: try literal(byte)
        case .minus, .zero, .integer, .point, .fraction, .exponentMark, .exponentSign, .exponent: try number(byte)
        case .afterDocument: guard Self.isWhitespace(byte) else { throw .invalidJSON }
        case .string, .failed: break   // `consume` reads strings itself, and nothing after a problem
        }
    }

    @inline(__always)
    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    private mutating func afterValue(_ byte: UInt8) throws(Problem) {
        switch byte {
        case 0x20, 0x0A, 0x0D, 0x09: return
        case UInt8(ascii: ","): mode = inArray ? .valueStart : .keyStart
        case UInt8(ascii: "}") where !inArray: close()
        case UInt8(ascii: "]") where inArray: close()
        default: throw .invalidJSON
        }
    }

    /// Opens an array or object; `kept`: the node of an object being kept.
    private mutating func open(array: Bool, kept node: Int? = nil) throws(Problem) {
        depth += 1
        guard depth <= JSONFieldReader.maxDepth else { throw .tooDeep }
        let bit: UInt64 = 1 << UInt64((depth - 1) & 63)
        if array { arrayLevels[(depth - 1) >> 6] |= bit } else { arrayLevels[(depth - 1) >> 6] &= ~bit }
        inArray = array
        if let node {
            keptNodes.append(node)
            write(UInt8(ascii: "{"))
            enterKept(node)
        } else {
            comparesKeys = false
        }
        mode = array ? .arrayStart : .objectStart
    }

    /// The innermost level is now the kept object of `node`.
    private mutating func enterKept(_ node: Int) {
        // Read from `nodes` field by field: copying the Node would retain its entries.
        comparesKeys = !nodes[node].entries.isEmpty
        keyLimit = nodes[node].keyLimit
    }

    private mutating func close() {
        if depth == keptNodes.count {
            keptNodes.removeLast()
            write(UInt8(ascii: "}"))
        }
        depth -= 1
        guard depth > 0 else { mode = .afterDocument; return }
        mode = .afterValue
        inArray = arrayLevels[(depth - 1) >> 6] & (1 << UInt64((depth - 1) & 63)) != 0
        // Back in a kept object (from a kept or skipped value): its keys are compared again.
        if depth == keptNodes.count { enterKept(keptNodes[keptNodes.count - 1]) }
    }

    private mutating func startKey(_ byte: UInt8) throws(Problem) {
        guard byte == UInt8(ascii: "\"") else { throw .invalidJSON }
        // Only a kept object's keys are compared; a kept object without wanted keys (an
        // `.object([:])`) is read as the reader reads it: no key compared.
        if comparesKeys {
            role = .keptKey
            keyCut = false
            keyTooLong = false
            keyHasEscape = false
        } else {
            role = .skippedKey
        }
        escape = .none
        mode = .string
    }

    private mutating func startValue(_ byte: UInt8) throws(Problem) {
        let keep = pending
        pending = .nothing
        switch byte {
        case UInt8(ascii: "\""):
            role = keep == .nothing ? .skippedValue : .keptValue
            if keep != .nothing { write(byte) }
            escape = .none
            mode = .string
        case UInt8(ascii: "t"): startLiteral("true", keep: keep)
        case UInt8(ascii: "f"): startLiteral("false", keep: keep)
        case UInt8(ascii: "n"): startLiteral("null", keep: keep)
        case UInt8(ascii: "{"):
            if case .object(let node) = keep { return try open(array: false, kept: node) }
            if keep != .nothing { write(UInt8(ascii: "0")) }
            try open(array: false)
        case UInt8(ascii: "["):
            if keep != .nothing { write(UInt8(ascii: "0")) }
            try open(array: true)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            if keep != .nothing { write(UInt8(ascii: "0")) }
            mode = byte == UInt8(ascii: "-") ? .minus : byte == UInt8(ascii: "0") ? .zero : .integer
        default: throw .invalidJSON
        }
    }

    /// After a kept object's key (`last`: its bytes in this chunk): what to keep of its value.
    private mutating func endKey(_ last: UnsafeRawBufferPointer) {
        guard keyCut else {
            if last.count <= keyLimit { endKey(raw: last) }
            return
        }
        keepKeyPart(last)
        guard !keyTooLong else { return }
        key.withUnsafeBytes { endKey(raw: $0) }
    }

    /// A key whose raw bytes are all known, by the rules of `JSONFieldReader.wantedKey`.
    private mutating func endKey(raw: UnsafeRawBufferPointer) {
        let entries = nodes[keptNodes[keptNodes.count - 1]].entries
        let found: (name: String, bytes: [UInt8], child: Int?)?
        if keyHasEscape {
            let name = JSONFieldReader.decodedString(raw)   // as the reader decodes a key: the same String, so the same match
            found = entries.first { $0.name == name }
        } else {
            found = entries.first { $0.bytes.count == raw.count && $0.bytes.elementsEqual(raw) }
        }
        guard let found else { return }
        pending = found.child.map { .object(node: $0) } ?? .scalar
        if out.last != UInt8(ascii: "{") { write(UInt8(ascii: ",")) }
        write(UInt8(ascii: "\""))
        write(raw)
        write(UInt8(ascii: "\""))
        write(UInt8(ascii: ":"))
    }

    /// A kept key's bytes up to a chunk's end, held while the key could still be wanted.
    private mutating func keepKeyPart(_ part: UnsafeRawBufferPointer) {
        if !keyCut {
            keyCut = true
            key.removeAll(keepingCapacity: true)
        }
        guard !keyTooLong else { return }
        if key.count + part.count > keyLimit {
            keyTooLong = true   // no wanted key is this long: the rest is skipped, still checked
        } else {
            key.append(contentsOf: part)
        }
    }

    // MARK: Scalars

    private mutating func startLiteral(_ word: StaticString, keep: Keep) {
        if keep != .nothing { write(UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)) }
        literalRest = 0
        for offset in (1..<word.utf8CodeUnitCount).reversed() { literalRest = literalRest << 8 | UInt32(word.utf8Start[offset]) }
        mode = .literal
    }

    private mutating func literal(_ byte: UInt8) throws(Problem) {
        guard byte == UInt8(truncatingIfNeeded: literalRest) else { throw .invalidJSON }
        literalRest >>= 8
        if literalRest == 0 { mode = .afterValue }
    }

    /// One byte of a number, or the byte after it (then read as what follows a value).
    private mutating func number(_ byte: UInt8) throws(Problem) {
        let isDigit = byte &- UInt8(ascii: "0") < 10
        let isExponent = byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
        switch mode {
        case .minus:
            guard isDigit else { throw .invalidJSON }
            mode = byte == UInt8(ascii: "0") ? .zero : .integer
        case .zero, .integer, .fraction, .exponent:
            if isDigit, mode != .zero { return }
            if byte == UInt8(ascii: "."), mode == .zero || mode == .integer { mode = .point; return }
            if isExponent, mode != .exponent { mode = .exponentMark; return }
            mode = .afterValue
            try afterValue(byte)
        case .point:
            guard isDigit else { throw .invalidJSON }
            mode = .fraction
        case .exponentMark:
            if byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") { mode = .exponentSign; return }
            guard isDigit else { throw .invalidJSON }
            mode = .exponent
        case .exponentSign:
            guard isDigit else { throw .invalidJSON }
            mode = .exponent
        default: break
        }
    }

    // MARK: Strings

    /// Inside a string: reads on to its end or the chunk's, checking escapes, keeping the
    /// bytes as they came when the string is kept. Returns where it stopped.
    private mutating func string(_ chunk: UnsafeRawBufferPointer, from start: Int) throws(Problem) -> Int {
        var index = start
        while index < chunk.count {
            if escape != .none {
                if try escaped(chunk[index]) { index += 1; continue }
                // Else the byte after a lone high surrogate: string content, read below.
            }
            index = Self.plainRun(chunk, from: index)
            guard index < chunk.count else { break }
            switch chunk[index] {
            case UInt8(ascii: "\""):
                endString(UnsafeRawBufferPointer(rebasing: chunk[start..<index]))
                return index + 1
            case UInt8(ascii: "\\"):
                keyHasEscape = true
                index = try escapeStart(chunk, at: index)
            default: throw .invalidJSON   // a control character
            }
        }
        let part = UnsafeRawBufferPointer(rebasing: chunk[start..<chunk.count])
        switch role {
        case .keptKey: keepKeyPart(part)
        case .keptValue: write(part)
        case .skippedKey, .skippedValue: break
        }
        return chunk.count
    }

    /// At a backslash: an escape whole in this chunk (nearly all are) is checked at once;
    /// else it is read byte by byte by `escaped`. Returns where to go on.
    @inline(__always)
    private mutating func escapeStart(_ chunk: UnsafeRawBufferPointer, at index: Int) throws(Problem) -> Int {
        if index + 1 < chunk.count {
            switch chunk[index + 1] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                return index + 2
            case UInt8(ascii: "u") where index + 5 < chunk.count:
                var code: UInt32 = 0
                for offset in 2...5 {
                    guard let digit = hexDigitValue(chunk[index + offset]) else { throw .invalidJSON }
                    code = code << 4 | UInt32(digit)
                }
                // A high surrogate: what follows decides (`escaped`, from `.afterHigh`).
                if (0xD800..<0xDC00).contains(code) { escape = .afterHigh }
                return index + 6
            default: break
            }
        }
        escape = .backslash
        return index + 1
    }

    /// The end of the bytes that need no attention: a quote, a backslash or a control
    /// character, or the chunk's end. 16 bytes at a time, as `JSONFieldReader.skipString`.
    @inline(__always)
    private static func plainRun(_ chunk: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        if let base = chunk.baseAddress {
            let quotes = SIMD16<UInt8>(repeating: UInt8(ascii: "\"")), backslashes = SIMD16<UInt8>(repeating: UInt8(ascii: "\\"))
            let spaces = SIMD16<UInt8>(repeating: 0x20)
            while index + 16 <= chunk.count {
                let bytes = (base + index).loadUnaligned(as: SIMD16<UInt8>.self)
                if any((bytes .== quotes) .| (bytes .== backslashes) .| (bytes .< spaces)) { break }
                index += 16
            }
        }
        while index < chunk.count {
            let byte = chunk[index]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { break }
            index += 1
        }
        return index
    }

    /// `last`: the string's bytes in this chunk, before its closing quote.
    private mutating func endString(_ last: UnsafeRawBufferPointer) {
        switch role {
        case .skippedKey: mode = .colon
        case .keptKey: endKey(last); mode = .colon
        case .keptValue:
            write(last)
            write(UInt8(ascii: "\""))
            mode = .afterValue
        case .skippedValue: mode = .afterValue
        }
    }

    /// One byte of an escape sequence, by the rules of `JSONFieldReader.escapedScalar`. False
    /// when it ends none: the byte after a lone high surrogate, which is string content.
    private mutating func escaped(_ byte: UInt8) throws(Problem) -> Bool {
        switch escape {
        case .none: return false
        case .backslash:
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                escape = .none
            case UInt8(ascii: "u"): startHex(low: false)
            default: throw .invalidJSON
            }
        case .hex, .lowHex:
            guard let digit = hexDigitValue(byte) else { throw .invalidJSON }
            hexValue = hexValue << 4 | UInt32(digit)
            hexLeft -= 1
            guard hexLeft == 0 else { return true }
            if escape == .lowHex {
                // The reader requires a low surrogate after a high one followed by `\u`.
                guard (0xDC00..<0xE000).contains(hexValue) else { throw .invalidJSON }
                escape = .none
            } else {
                escape = (0xD800..<0xDC00).contains(hexValue) ? .afterHigh : .none
            }
        case .afterHigh:
            guard byte == UInt8(ascii: "\\") else { escape = .none; return false }
            escape = .afterHighBackslash
        case .afterHighBackslash:
            // `\u` after a high surrogate must be its low half; any other escape stands alone.
            guard byte == UInt8(ascii: "u") else { escape = .backslash; return try escaped(byte) }
            startHex(low: true)
        }
        return true
    }

    private mutating func startHex(low: Bool) {
        escape = low ? .lowHex : .hex
        hexLeft = 4
        hexValue = 0
    }

    // MARK: Output

    private mutating func write(_ byte: UInt8) {
        guard !tooLarge else { return }
        guard out.count < maxKeptBytes else { return overflow() }
        if out.count == out.capacity { grow(by: 1) }
        out.append(byte)
    }

    private mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard !tooLarge else { return }
        guard out.count + bytes.count <= maxKeptBytes else { return overflow() }
        if out.count + bytes.count > out.capacity { grow(by: bytes.count) }
        out.append(contentsOf: bytes)
    }

    /// Doubles the kept bytes' room, as appending would, but never past `maxKeptBytes`: what
    /// is held stays within the limit, not within twice it.
    private mutating func grow(by count: Int) {
        out.reserveCapacity(min(maxKeptBytes, max(out.count + count, 2 * out.capacity)))
    }

    /// Stops keeping (and frees what was kept); the document is still checked to its end.
    private mutating func overflow() {
        tooLarge = true
        out = []
    }
}
