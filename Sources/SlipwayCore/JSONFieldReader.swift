/// A strict JSON reader that materializes only the fields it is asked for and skips the
/// rest (still checking that it is well-formed JSON). A GitHub push payload is ~8 KB of
/// which Slipway reads a dozen fields; decoding all of it with JSONDecoder was the
/// largest single cost of taking a delivery. Nesting is limited (512), so hostile input
/// cannot exhaust the stack.
struct JSONFieldReader {
    /// What to read at a key.
    indirect enum Want: Sendable { case scalar, object(Keys) }

    /// The keys wanted of an object, with their bytes, to compare keys without decoding them.
    struct Keys: Sendable, ExpressibleByDictionaryLiteral {
        let entries: [(name: String, bytes: [UInt8], want: Want)]
        init(dictionaryLiteral elements: (String, Want)...) {
            entries = elements.map { (name: $0.0, bytes: Array($0.0.utf8), want: $0.1) }
        }
        static let none: Keys = [:]
        var isEmpty: Bool { entries.isEmpty }
        subscript(name: String) -> Want? { entries.first { $0.name == name }?.want }
    }

    enum Value: Equatable {
        case string(String), bool(Bool), null, object(Object)
        /// A number, an array, or an object that was not asked for: present, not read.
        case other
    }

    /// The wanted fields of an object. They are few, so a key is found by comparing it
    /// with each (cheaper than hashing keys into a dictionary for every payload).
    struct Object: Equatable {
        private var fields: [(key: String, value: Value)] = []
        /// A wanted key given more than once. JSON leaves its meaning open (JSONDecoder
        /// keeps the first value, JSONSerialization the last), so readers refuse the
        /// object instead of picking one.
        private(set) var repeatedKey: String?

        init() {}

        subscript(key: String) -> Value? { fields.first { $0.key == key }?.value }

        fileprivate mutating func add(_ key: String, _ value: Value) {
            if repeatedKey == nil, fields.contains(where: { $0.key == key }) { repeatedKey = key }
            fields.append((key, value))
        }

        fileprivate mutating func reserveCapacity(_ count: Int) { fields.reserveCapacity(count) }

        static func == (lhs: Object, rhs: Object) -> Bool {
            lhs.repeatedKey == rhs.repeatedKey && lhs.fields.count == rhs.fields.count
                && lhs.fields.allSatisfy { rhs[$0.key] == $0.value }
        }
    }

    struct Invalid: Error {}

    // The bytes are read through a buffer pointer, valid only inside `read`: the reader
    // never outlives that call.
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0
    static let maxDepth = 512

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// Reads a top-level object; only the `want`ed keys are in the result.
    static func read(_ bytes: [UInt8], want: Keys) throws(Invalid) -> Object {
        let result: Result<Object, Invalid> = bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONFieldReader(buffer)
            return Result { () throws(Invalid) in
                reader.skipWhitespace()
                let result = try reader.object(want)
                reader.skipWhitespace()
                guard reader.index == buffer.count else { throw Invalid() }
                return result
            }
        }
        return try result.get()
    }

    /// The first string at `path` (`["repository", "full_name"]`) in a top-level object,
    /// reading no further than it: for a body not yet trusted, whatever follows is never
    /// parsed. Nil when the path is absent, is not a string, or the JSON before it is invalid.
    static func firstString(_ bytes: [UInt8], at path: [String]) -> String? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONFieldReader(buffer)
            reader.skipWhitespace()
            return try? reader.firstString(at: path[...])
        }
    }

    private mutating func firstString(at path: ArraySlice<String>) throws(Invalid) -> String? {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth, let name = path.first else { throw Invalid() }
        let wanted: Keys = [name: .scalar]
        try expect(UInt8(ascii: "{"))
        skipWhitespace()
        if current == UInt8(ascii: "}") { return nil }
        while true {
            skipWhitespace()
            let isWanted = try wantedKey(wanted) != nil
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            if isWanted {
                if path.count == 1 { return current == UInt8(ascii: "\"") ? try string() : nil }
                return current == UInt8(ascii: "{") ? try firstString(at: path.dropFirst()) : nil
            }
            try skipValue()
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            default: return nil
            }
        }
    }

    /// The contents of a JSON string (`raw`: what is between its quotes, known to be
    /// valid), decoded as `read` decodes strings.
    static func decodedString(_ raw: UnsafeRawBufferPointer) -> String {
        let quoted = [UInt8(ascii: "\"")] + raw + [UInt8(ascii: "\"")]
        return quoted.withUnsafeBufferPointer { buffer in
            var reader = JSONFieldReader(buffer)
            return (try? reader.string()) ?? ""
        }
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func expect(_ byte: UInt8) throws(Invalid) {
        guard current == byte else { throw Invalid() }
        index += 1
    }

    /// An object: the wanted keys read, everything else skipped. Keys are compared as
    /// bytes; only a key written with escapes is decoded to compare it.
    private mutating func object(_ want: Keys) throws(Invalid) -> Object {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw Invalid() }
        try expect(UInt8(ascii: "{"))
        var result = Object()
        if !want.isEmpty { result.reserveCapacity(want.entries.count) }
        skipWhitespace()
        if current == UInt8(ascii: "}") { index += 1; return result }
        while true {
            skipWhitespace()
            let wanted = try wantedKey(want)
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            if let (key, kind) = wanted { result.add(key, try value(kind)) } else { try skipValue() }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return result
            default: throw Invalid()
            }
        }
    }

    /// Reads a key; it and what is wanted of it when it is one of `want`'s.
    private mutating func wantedKey(_ want: Keys) throws(Invalid) -> (String, Want)? {
        let start = index + 1
        try skipString()
        guard !want.isEmpty else { return nil }
        let raw = UnsafeBufferPointer(rebasing: bytes[start..<(index - 1)])
        guard !raw.contains(UInt8(ascii: "\\")) else {
            index = start - 1
            let key = try string()
            return want[key].map { (key, $0) }
        }
        for entry in want.entries where entry.bytes.count == raw.count && entry.bytes.elementsEqual(raw) {
            return (entry.name, entry.want)
        }
        return nil
    }

    private mutating func value(_ want: Want) throws(Invalid) -> Value {
        switch current {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "{"):
            if case .object(let nested) = want { return .object(try object(nested)) }
            try skipValue()
            return .other
        default:
            try skipValue()
            return .other
        }
    }

    private mutating func skipValue() throws(Invalid) {
        switch current {
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "{"): _ = try object(.none)
        case UInt8(ascii: "["): try skipArray()
        case let byte? where byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte): try number()
        default: throw Invalid()
        }
    }

    private mutating func skipArray() throws(Invalid) {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw Invalid() }
        try expect(UInt8(ascii: "["))
        skipWhitespace()
        if current == UInt8(ascii: "]") { index += 1; return }
        while true {
            skipWhitespace()
            try skipValue()
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return
            default: throw Invalid()
            }
        }
    }

    private mutating func literal(_ word: StaticString) throws(Invalid) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw Invalid() }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { throw Invalid() }
        index += count
    }

    private mutating func number() throws(Invalid) {
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { throw Invalid() }
        index += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if current == UInt8(ascii: ".") {
            index += 1
            guard skipDigits() > 0 else { throw Invalid() }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard skipDigits() > 0 else { throw Invalid() }
        }
    }

    @discardableResult
    private mutating func skipDigits() -> Int {
        let start = index
        while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
        return index - start
    }

    private mutating func skipString() throws(Invalid) {
        try expect(UInt8(ascii: "\""))
        let bytes = self.bytes   // a local copy: the loop keeps it in registers
        let quotes = SIMD16<UInt8>(repeating: UInt8(ascii: "\"")), backslashes = SIMD16<UInt8>(repeating: UInt8(ascii: "\\"))
        let spaces = SIMD16<UInt8>(repeating: 0x20)
        while true {
            var at = index
            // 16 bytes at a time while none of them ends the run (a quote, a backslash or a
            // control character), then byte by byte.
            if let base = bytes.baseAddress {
                while at + 16 <= bytes.count {
                    let chunk = UnsafeRawPointer(base + at).loadUnaligned(as: SIMD16<UInt8>.self)
                    let stops = (chunk .== quotes) .| (chunk .== backslashes) .| (chunk .< spaces)
                    if any(stops) { break }
                    at += 16
                }
            }
            while at < bytes.count, bytes[at] != UInt8(ascii: "\""), bytes[at] != UInt8(ascii: "\\"), bytes[at] >= 0x20 { at += 1 }
            guard at < bytes.count, bytes[at] >= 0x20 else { throw Invalid() }
            index = at + 1
            if bytes[at] == UInt8(ascii: "\"") { return }
            _ = try escapedScalar()
        }
    }

    private mutating func string() throws(Invalid) -> String {
        try expect(UInt8(ascii: "\""))
        var text: [UInt8] = []
        var run = index
        while let byte = current {
            switch byte {
            case UInt8(ascii: "\""):
                defer { index += 1 }
                if text.isEmpty { return String(decoding: UnsafeBufferPointer(rebasing: bytes[run..<index]), as: UTF8.self) }
                text.append(contentsOf: bytes[run..<index])
                return String(decoding: text, as: UTF8.self)
            case UInt8(ascii: "\\"):
                text.append(contentsOf: bytes[run..<index])
                index += 1
                text.append(contentsOf: String(Character(try escapedScalar())).utf8)
                run = index
            case 0..<0x20: throw Invalid()
            default: index += 1
            }
        }
        throw Invalid()
    }

    /// After a backslash: the character one escape stands for.
    private mutating func escapedScalar() throws(Invalid) -> Unicode.Scalar {
        let scalar: Unicode.Scalar
        guard let byte = current else { throw Invalid() }
        index += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalar = Unicode.Scalar(byte)
        case UInt8(ascii: "b"): scalar = "\u{08}"
        case UInt8(ascii: "f"): scalar = "\u{0C}"
        case UInt8(ascii: "n"): scalar = "\n"
        case UInt8(ascii: "r"): scalar = "\r"
        case UInt8(ascii: "t"): scalar = "\t"
        case UInt8(ascii: "u"):
            var code = try hex4()
            if (0xD800..<0xDC00).contains(code), current == UInt8(ascii: "\\"), index + 1 < bytes.count,
                bytes[index + 1] == UInt8(ascii: "u")
            {
                index += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw Invalid() }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            }
            scalar = Unicode.Scalar(code) ?? "\u{FFFD}"   // a lone surrogate, as JSONDecoder would repair it
        default: throw Invalid()
        }
        return scalar
    }

    private mutating func hex4() throws(Invalid) -> UInt32 {
        guard index + 4 <= bytes.count else { throw Invalid() }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            index += 1
            guard let digit = hexDigitValue(byte) else { throw Invalid() }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
}
