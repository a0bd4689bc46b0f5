import COpenSSL

/// SHA-256 over data that arrives in pieces (a model streamed to disk), with OpenSSL's EVP
/// interface; MD5 too, only to compare with a store's own checksum (`StoreChecksum`),
/// never to identify anything. Not thread-safe: one owner feeds it.
public final class SHA256Stream: @unchecked Sendable {
    private let context: OpaquePointer

    public init(md5: Bool = false) {
        context = EVP_MD_CTX_new()
        EVP_DigestInit_ex(context, md5 ? EVP_md5() : EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The digest, as lower-case hex. The stream cannot be fed afterwards.
    public func finish() -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return Array(digest.prefix(Int(length))).hexString
    }
}
