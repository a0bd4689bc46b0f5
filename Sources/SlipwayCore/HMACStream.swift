import COpenSSL

/// HMAC over data that arrives in pieces (a webhook body read as it comes, so it is
/// never held whole before its signature is known), built from OpenSSL's EVP digests as
/// RFC 2104 defines it: H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ message)). Not thread-safe: one
/// owner feeds it.
public final class HMACStream: @unchecked Sendable {
    public enum Digest: Sendable { case sha256, sha1 }

    private let digest: OpaquePointer?
    private let inner: OpaquePointer
    private let outerPad: [UInt8]

    public init(_ digest: Digest, key: [UInt8]) {
        self.digest =
            switch digest {
            case .sha256: EVP_sha256()
            case .sha1: EVP_sha1()
            }
        let blockSize = 64   // SHA-1 and SHA-256 alike
        var block = key.count > blockSize ? Self.hash(self.digest, key) : key
        block += [UInt8](repeating: 0, count: blockSize - block.count)
        outerPad = block.map { $0 ^ 0x5C }
        inner = EVP_MD_CTX_new()
        EVP_DigestInit_ex(inner, self.digest, nil)
        let innerPad = block.map { $0 ^ 0x36 }
        innerPad.withUnsafeBytes { _ = EVP_DigestUpdate(inner, $0.baseAddress, $0.count) }
    }

    deinit { EVP_MD_CTX_free(inner) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(inner, base, bytes.count)
    }

    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The MAC. The stream cannot be fed afterwards.
    public func finish() -> [UInt8] {
        var innerDigest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(inner, &innerDigest, &length)
        return Self.hash(digest, outerPad + innerDigest.prefix(Int(length)))
    }

    private static func hash(_ digest: OpaquePointer?, _ bytes: [UInt8]) -> [UInt8] {
        let context = EVP_MD_CTX_new()
        defer { EVP_MD_CTX_free(context) }
        EVP_DigestInit_ex(context, digest, nil)
        bytes.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &out, &length)
        return Array(out.prefix(Int(length)))
    }
}

extension WebhookSignature {
    /// The MACs of a body under several secrets, computed while the body streams past;
    /// the signature is then checked against those of the secrets that apply.
    public final class StreamingCheck: @unchecked Sendable {
        private let signature: WebhookSignature
        private var streams: [(secret: [UInt8], stream: HMACStream)]

        /// `secrets`: every secret that may turn out to apply (all configured ones: the
        /// repository a body names is only known at its end).
        public init(_ signature: WebhookSignature, secrets: [[UInt8]]) {
            self.signature = signature
            var seen = Set<[UInt8]>()
            streams = secrets.filter { !$0.isEmpty && seen.insert($0).inserted }.map {
                ($0, HMACStream(signature.algorithm == .sha256 ? .sha256 : .sha1, key: $0))
            }
        }

        public func update(_ bytes: UnsafeRawBufferPointer) {
            for entry in streams { entry.stream.update(bytes) }
        }

        /// Whether the body signed with any of `secrets` gives the signature: every secret
        /// tried, each comparison constant-time, as `isValid(body:secrets:)`.
        public func isValid(secrets: [[UInt8]]) -> Bool {
            var matched = false
            for entry in streams {
                let mac = entry.stream.finish()
                if secrets.contains(entry.secret), Crypto.constantTimeEquals(mac, signature.digest) { matched = true }
            }
            return matched
        }
    }
}
