import COpenSSL
import Foundation

/// The keys that sign and check provenance: ECDSA P-256 with SHA-256 (cosign's default;
/// signatures DER-encoded, as cosign and securesystemslib write them) or Ed25519, from
/// PEM, through OpenSSL's EVP interface. Any other key is refused by name.
public enum ProvenanceKeyAlgorithm: String, Sendable, Equatable {
    case ecdsaP256 = "ecdsa-p256-sha256"
    case ed25519

    /// A PEM private key (`privateKey`) or public key, read, with its algorithm; the
    /// caller frees it (EVP_PKEY_free). A key with a passphrase is refused (no prompt).
    static func load(_ pem: String, privateKey: Bool) throws(ProvenanceKeyError) -> (OpaquePointer, ProvenanceKeyAlgorithm) {
        let bytes = Array(pem.utf8)
        let read = bytes.withUnsafeBytes { buffer -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            defer { ERR_clear_error() }
            return privateKey ? PEM_read_bio_PrivateKey(bio, nil, nil, nil) : PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        guard let key = read else { throw ProvenanceKeyError(privateKey ? "not a PEM private key" : "not a PEM public key") }
        do {
            return (key, try of(key))
        } catch {
            EVP_PKEY_free(key)
            throw error
        }
    }

    /// The key's algorithm, or why it is not one of the two.
    static func of(_ key: OpaquePointer) throws(ProvenanceKeyError) -> ProvenanceKeyAlgorithm {
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_ED25519: return .ed25519
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 else {
                throw ProvenanceKeyError("an EC key without a named curve (use P-256)")
            }
            let curve = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard curve == "prime256v1" else { throw ProvenanceKeyError("an EC key on curve \(curve), not P-256 (prime256v1)") }
            return .ecdsaP256
        default:
            throw ProvenanceKeyError("neither an ECDSA P-256 nor an Ed25519 key (an RSA key, or another type)")
        }
    }
}

public struct ProvenanceKeyError: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A private key that signs (PEM: PKCS#8 "PRIVATE KEY", or "EC PRIVATE KEY").
public final class ProvenanceSigningKey: @unchecked Sendable {
    // The EVP_PKEY is never changed after it is read; OpenSSL allows concurrent signing with it.
    private let key: OpaquePointer
    public let algorithm: ProvenanceKeyAlgorithm

    public init(privateKeyPEM: String) throws(ProvenanceKeyError) {
        (key, algorithm) = try ProvenanceKeyAlgorithm.load(privateKeyPEM, privateKey: true)
    }

    deinit { EVP_PKEY_free(key) }

    public func sign(_ message: [UInt8]) throws(ProvenanceKeyError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw ProvenanceKeyError("out of memory") }
        defer { EVP_MD_CTX_free(context) }
        // Ed25519 hashes on its own (no digest is named); ECDSA signs the SHA-256 of the message.
        guard EVP_DigestSignInit(context, nil, algorithm == .ed25519 ? nil : EVP_sha256(), nil, key) == 1 else {
            throw ProvenanceKeyError("the key cannot sign")
        }
        var length = 0
        guard message.withUnsafeBufferPointer({ EVP_DigestSign(context, nil, &length, $0.baseAddress, $0.count) }) == 1 else {
            throw ProvenanceKeyError("signing failed")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard message.withUnsafeBufferPointer({ EVP_DigestSign(context, &signature, &length, $0.baseAddress, $0.count) }) == 1 else {
            throw ProvenanceKeyError("signing failed")
        }
        return Array(signature.prefix(length))
    }

    /// The matching public key, PEM ("PUBLIC KEY", SubjectPublicKeyInfo).
    public var publicKeyPEM: String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PUBKEY(bio, key) == 1 else { return "" }
        var pointer: UnsafeMutablePointer<CChar>?
        let length = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &pointer)
        guard let pointer, length > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: Int(length)), as: UTF8.self)
    }
}

/// A public key that checks signatures (PEM "PUBLIC KEY").
public final class ProvenanceVerificationKey: @unchecked Sendable {
    private let key: OpaquePointer
    public let algorithm: ProvenanceKeyAlgorithm

    public init(publicKeyPEM: String) throws(ProvenanceKeyError) {
        (key, algorithm) = try ProvenanceKeyAlgorithm.load(publicKeyPEM, privateKey: false)
    }

    deinit { EVP_PKEY_free(key) }

    public func isValid(signature: [UInt8], of message: [UInt8]) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, algorithm == .ed25519 ? nil : EVP_sha256(), nil, key) == 1 else { return false }
        let result = signature.withUnsafeBufferPointer { signature in
            message.withUnsafeBufferPointer { message in
                EVP_DigestVerify(context, signature.baseAddress, signature.count, message.baseAddress, message.count)
            }
        }
        ERR_clear_error()
        return result == 1
    }
}
