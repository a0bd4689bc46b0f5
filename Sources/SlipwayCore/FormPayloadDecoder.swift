/// Streams an `application/x-www-form-urlencoded` body and yields the decoded bytes of its
/// first `payload` field, as `WebhookRoute.formPayload` finds it: the first `&`-separated
/// pair that starts with the bytes `payload=` (the name is not decoded), its value up to the
/// next `&`, `+` read as a space and `%XX` as the byte XX. Chunk boundaries may fall anywhere,
/// inside an escape too; only the escape's state is held, never the body.
///
/// An invalid escape (`%` not followed by two hex digits, before the value's end) makes the
/// field not well-formed: `finish()` is false, as `removingPercentEncoding` returning nil
/// made it "no payload" before. Bytes already yielded are then to be thrown away (the reducer
/// fed with them is not read).
///
/// The decoded bytes are not checked to be UTF-8, nor are raw bytes repaired: the payload
/// is JSON, read by a reader that checks its structure and repairs strings as it decodes
/// them, as it does for an `application/json` body. (The old path went through String:
/// raw invalid UTF-8 became U+FFFD before decoding, and CoreFoundation refused some decoded
/// invalid UTF-8 (a cut sequence, 0xFF, a surrogate: "no payload") but turned a stray
/// continuation byte into U+FFFD. Only payloads that are not UTF-8 are read differently.)
struct FormPayloadDecoder {
    private enum State: Equatable {
        /// At the start of a pair, `matched` bytes of `payload=` seen.
        case name(matched: Int)
        /// In a pair that is not the payload: until the next `&`.
        case skipping
        case value
        /// After `%`, and after its first digit (`high`).
        case percent
        case percentDigit(high: UInt8)
        /// After the payload's value; and after an invalid escape in it.
        case done, invalid

        var isBeforeValue: Bool { if case .name = self { true } else { self == .skipping } }
        var isInValue: Bool { if case .percentDigit = self { true } else { self == .value || self == .percent } }
    }

    private static let fieldName = Array("payload=".utf8)
    private var state = State.name(matched: 0)

    init() {}

    /// Reads the next bytes of the body; gives `sink` the decoded payload bytes they hold, if
    /// any (zero or more calls, each buffer valid only during the call).
    mutating func consume(_ chunk: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) -> Void) {
        var index = 0
        while index < chunk.count, state.isBeforeValue {
            findPayload(chunk[index])
            index += 1
        }
        guard index < chunk.count, state.isInValue else { return }
        decodeValue(UnsafeRawBufferPointer(rebasing: chunk[index...]), into: sink)
    }

    /// Whether the body had a `payload` field, well-formed. Its bytes were all yielded.
    func finish() -> Bool {
        switch state {
        case .value, .done: return true
        case .name, .skipping, .percent, .percentDigit, .invalid: return false
        }
    }

    /// One byte before the payload's value.
    private mutating func findPayload(_ byte: UInt8) {
        switch state {
        case .name(let matched):
            if byte == Self.fieldName[matched] {
                state = matched + 1 == Self.fieldName.count ? .value : .name(matched: matched + 1)
            } else {
                state = byte == UInt8(ascii: "&") ? .name(matched: 0) : .skipping
            }
        case .skipping:
            if byte == UInt8(ascii: "&") { state = .name(matched: 0) }
        default: break
        }
    }

    /// The value's bytes (or the rest of the chunk, from the value on), decoded into a small
    /// buffer handed to `sink` when full: a payload is mostly escapes (GitHub encodes every
    /// `"`, `:`, `,`, `{`), so a call per plain run would be a call every few bytes.
    private mutating func decodeValue(_ bytes: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: min(bytes.count, 16 * 1024)) { buffer in
            var count = 0
            func flush() {
                if count > 0 { sink(UnsafeRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))) }
                count = 0
            }
            var index = 0
            // The end of an escape the previous chunk cut.
            while index < bytes.count, state != .value {
                guard let byte = escaped(bytes[index]) else { return }
                if let byte { buffer[count] = byte; count += 1 }
                index += 1
            }
            // Then byte by byte, without going through `state`, an escape at once.
            while index < bytes.count {
                if count == buffer.count { flush() }
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "%"):
                    guard index + 2 < bytes.count else {
                        state = .percent   // cut by this chunk's end: its digits, one by one
                        for digit in bytes[(index + 1)...] { _ = escaped(digit) }
                        return flush()
                    }
                    guard let high = hexDigitValue(bytes[index + 1]), let low = hexDigitValue(bytes[index + 2]) else {
                        state = .invalid
                        return
                    }
                    buffer[count] = high << 4 | low
                    index += 3
                case UInt8(ascii: "&"):
                    state = .done
                    return flush()
                case UInt8(ascii: "+"):
                    buffer[count] = 0x20
                    index += 1
                default:
                    buffer[count] = byte
                    index += 1
                }
                count += 1
            }
            flush()
        }
    }

    /// A digit of an escape cut by a chunk's end: nil when invalid, else the decoded byte
    /// once complete (`.some(nil)` before).
    private mutating func escaped(_ digit: UInt8) -> UInt8?? {
        switch state {
        case .percent:
            guard let high = hexDigitValue(digit) else { state = .invalid; return nil }
            state = .percentDigit(high: high)
            return .some(nil)
        case .percentDigit(let high):
            guard let low = hexDigitValue(digit) else { state = .invalid; return nil }
            state = .value
            return high << 4 | low
        default: return nil
        }
    }
}
