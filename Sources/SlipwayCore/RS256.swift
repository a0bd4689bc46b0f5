import COpenSSL
import Foundation

/// RSASSA-PKCS1-v1_5 with SHA-256 (JWT "RS256") through OpenSSL's EVP interface.
public enum RS256 {
    public struct KeyError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Signs `message` with a PEM private key (PKCS#1 "RSA PRIVATE KEY" or PKCS#8), as
    /// GitHub gives an App's key.
    public static func sign(_ message: [UInt8], privateKeyPEM: String) throws -> [UInt8] {
        let pem = Array(privateKeyPEM.utf8)
        guard let bio = pem.withUnsafeBytes({ BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }) else {
            throw KeyError(description: "cannot read the private key")
        }
        defer { BIO_free(bio) }
        guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else {
            throw KeyError(description: "the private key is not a PEM RSA key")
        }
        defer { EVP_PKEY_free(key) }
        guard let context = EVP_MD_CTX_new() else { throw KeyError(description: "out of memory") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, key) == 1 else {
            throw KeyError(description: "the private key cannot sign with RS256")
        }
        var length = 0
        guard
            message.withUnsafeBytes({ EVP_DigestSign(context, nil, &length, $0.baseAddress?.assumingMemoryBound(to: UInt8.self), $0.count) }
            ) == 1
        else {
            throw KeyError(description: "signing failed")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard
            message.withUnsafeBytes({
                EVP_DigestSign(context, &signature, &length, $0.baseAddress?.assumingMemoryBound(to: UInt8.self), $0.count)
            }) == 1
        else {
            throw KeyError(description: "signing failed")
        }
        return Array(signature.prefix(length))
    }
}

/// The JWT a GitHub App presents to exchange for an installation token: RS256, `iat` 60 s
/// in the past (clock drift), `exp` 9 minutes ahead (GitHub allows 10), `iss` the App id.
public enum GitHubAppJWT {
    public static func make(appID: Int, privateKeyPEM: String, now: Date) throws -> String {
        let issued = Int(now.timeIntervalSince1970) - 60
        let header = base64URL(Array(#"{"alg":"RS256","typ":"JWT"}"#.utf8))
        let claims = base64URL(Array(#"{"iat":\#(issued),"exp":\#(issued + 600),"iss":"\#(appID)"}"#.utf8))
        let signingInput = "\(header).\(claims)"
        let signature = try RS256.sign(Array(signingInput.utf8), privateKeyPEM: privateKeyPEM)
        return "\(signingInput).\(base64URL(signature))"
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
