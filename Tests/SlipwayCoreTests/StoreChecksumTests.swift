import Foundation
import SlipwayCore
import Testing

/// Which of a store's headers are a checksum of the whole object (`StoreChecksum`).
@Suite struct StoreChecksumTests {
    static let md5Hex = "5d41402abc4b2a76b9719d911017c592"   // MD5("hello")
    static let sha256Hex = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"   // SHA-256("hello")

    func offered(_ headers: [String: String], s3: Bool) -> StoreChecksum? {
        StoreChecksum.offered(by: { name in headers.first { $0.key.lowercased() == name.lowercased() }?.value }, s3: s3)
    }

    @Test func s3sChecksumAndSinglePartETagAreChecksumsAndOthersAreNot() {
        let sha256 = Data(Array(hexString: Self.sha256Hex)!).base64EncodedString()
        #expect(
            offered(["x-amz-checksum-sha256": sha256, "ETag": "\"\(Self.md5Hex)\""], s3: true)
                == .sha256(hex: Self.sha256Hex, from: "x-amz-checksum-sha256"))
        #expect(offered(["ETag": "\"\(Self.md5Hex)\""], s3: true) == .md5(hex: Self.md5Hex, from: "ETag (MD5 of a single-part upload)"))
        #expect(offered(["ETag": "\"\(Self.md5Hex)-3\""], s3: true) == nil, "a multipart upload's ETag")
        #expect(offered(["ETag": "\"\(Self.md5Hex)\"", "x-amz-server-side-encryption": "aws:kms"], s3: true) == nil, "SSE-KMS")
        #expect(offered(["ETag": "\"\(Self.md5Hex)\""], s3: false) == nil, "another store's ETag is only a version")
        let md5 = Data(Array(hexString: Self.md5Hex)!).base64EncodedString()
        #expect(offered(["Content-MD5": md5], s3: false) == .md5(hex: Self.md5Hex, from: "Content-MD5"))
        #expect(offered(["Content-MD5": "not base64!"], s3: false) == nil)
    }

    @Test func aMismatchNamesBothValues() {
        let md5 = StoreChecksum.md5(hex: Self.md5Hex, from: "Content-MD5")
        #expect(md5.mismatch(sha256: Self.sha256Hex, md5: Self.md5Hex) == nil)
        #expect(md5.mismatch(sha256: Self.sha256Hex, md5: "00") == "its MD5 00 differs from the store's Content-MD5 \(Self.md5Hex)")
        #expect(md5.matchedText == "matched Content-MD5")
        let sha = StoreChecksum.sha256(hex: Self.sha256Hex, from: "x-amz-checksum-sha256")
        #expect(sha.mismatch(sha256: Self.sha256Hex, md5: nil) == nil && sha.mismatch(sha256: "ab", md5: nil) != nil)
    }
}
