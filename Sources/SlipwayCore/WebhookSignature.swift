/// The signature GitHub sends with a delivery, parsed from its header.
///
/// GitHub signs the raw body with each configured secret: `X-Hub-Signature-256:
/// sha256=<64 hex>`, and the legacy `X-Hub-Signature: sha1=<40 hex>`. The legacy header
/// is only considered when the sha256 one is absent.
public struct WebhookSignature: Sendable, Equatable {
    public enum Algorithm: String, Sendable { case sha256, sha1 }

    public let algorithm: Algorithm
    public let digest: [UInt8]

    /// Why a signature header was refused. None of these carries any header or body text.
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case missing
        case malformed
        case mismatch

        public var description: String {
            switch self {
            case .missing: "signature header missing"
            case .malformed: "signature header malformed"
            case .mismatch: "signature does not match any configured secret"
            }
        }
    }

    /// Picks and parses the header to trust: sha256 if present (even if malformed: a
    /// malformed sha256 header never falls back to sha1), else sha1.
    public static func parse(sha256Header: String?, sha1Header: String?) throws(Problem) -> WebhookSignature {
        if let header = sha256Header {
            return try parse(header, algorithm: .sha256, hexLength: 64)
        }
        if let header = sha1Header {
            return try parse(header, algorithm: .sha1, hexLength: 40)
        }
        throw .missing
    }

    private static func parse(_ header: String, algorithm: Algorithm, hexLength: Int) throws(Problem) -> WebhookSignature {
        let prefix = algorithm.rawValue + "="
        guard header.hasPrefix(prefix) else { throw .malformed }
        let hex = header.dropFirst(prefix.count)
        guard hex.utf8.count == hexLength, let digest = [UInt8](hexString: hex) else { throw .malformed }
        return WebhookSignature(algorithm: algorithm, digest: digest)
    }

    /// True when `body` signed with any of `secrets` gives this signature. Every secret
    /// is tried (no early exit), and each comparison is constant-time.
    public func isValid(body: [UInt8], secrets: [[UInt8]]) -> Bool {
        var matched = false
        for secret in secrets where !secret.isEmpty {
            let expected: [UInt8]
            switch algorithm {
            case .sha256: expected = Crypto.hmacSHA256(key: secret, message: body)
            case .sha1: expected = Crypto.hmacSHA1(key: secret, message: body)
            }
            if Crypto.constantTimeEquals(expected, digest) { matched = true }
        }
        return matched
    }

    /// The header value GitHub would send for `body` under `secret`; used by `slipway
    /// deliver` and by tests.
    public static func sha256Header(body: [UInt8], secret: [UInt8]) -> String {
        "sha256=" + Crypto.hmacSHA256(key: secret, message: body).hexString
    }
}
