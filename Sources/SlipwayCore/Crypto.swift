import COpenSSL
import Foundation

/// Hashes and MACs from OpenSSL's libcrypto, the only crypto Slipway uses.
///
/// Use these for webhook signatures, content digests and request signing. They are pure
/// functions over bytes; none of them keeps state between calls.
public enum Crypto {
    /// HMAC-SHA256 of `message` under `key`.
    public static func hmacSHA256<K: ContiguousBytes, M: ContiguousBytes>(key: K, message: M) -> [UInt8] {
        hmac(EVP_sha256(), key: key, message: message)
    }

    /// HMAC-SHA1, only for GitHub's legacy `X-Hub-Signature` header.
    public static func hmacSHA1<K: ContiguousBytes, M: ContiguousBytes>(key: K, message: M) -> [UInt8] {
        hmac(EVP_sha1(), key: key, message: message)
    }

    /// SHA-256 digest of `data`.
    public static func sha256<D: ContiguousBytes>(_ data: D) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        data.withUnsafeBytes { bytes in
            _ = SHA256(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, &digest)
        }
        return digest
    }

    /// Compares two byte strings in time that depends only on their lengths, never on
    /// where they differ (OpenSSL's `CRYPTO_memcmp`).
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in
                CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0
            }
        }
    }

    private static func hmac<K: ContiguousBytes, M: ContiguousBytes>(
        _ md: OpaquePointer?, key: K, message: M
    ) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                // An empty buffer may have a nil base address; OpenSSL wants a valid pointer,
                // valid for the whole call (a pointer to a local made by `&` is not).
                withUnsafeBytes(of: UInt8(0)) { zero in
                    let keyPointer = k.baseAddress ?? zero.baseAddress!
                    let messagePointer = (m.baseAddress ?? zero.baseAddress!).assumingMemoryBound(to: UInt8.self)
                    _ = HMAC(md, keyPointer, Int32(k.count), messagePointer, m.count, &out, &length)
                }
            }
        }
        return Array(out.prefix(Int(length)))
    }
}

extension Array where Element == UInt8 {
    /// Lower-case hexadecimal, as GitHub writes signatures and as sha256 pins are written.
    public var hexString: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var chars = [UInt8]()
        chars.reserveCapacity(count * 2)
        for byte in self {
            chars.append(digits[Int(byte >> 4)])
            chars.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: chars, as: UTF8.self)
    }

    /// Parses hexadecimal (either case); nil when the text is not whole bytes of hex.
    public init?(hexString: some StringProtocol) {
        let utf8 = Array(hexString.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = Self.nibble(utf8[index]), let low = Self.nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        self = bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? { hexDigitValue(c) }
}

/// The value of one hexadecimal digit (either case), or nil.
func hexDigitValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
