import Foundation

/// The checksum a model store gives for an object's whole content, to compare with what
/// was downloaded, so a model altered in transit (or by a proxy) is caught even when no
/// `model.sha256` is pinned:
/// - `x-amz-checksum-sha256` (S3, when the object was uploaded with one): base64 SHA-256;
/// - the ETag of an S3 object uploaded in one part without SSE-KMS or SSE-C: hex MD5;
/// - `Content-MD5` of a full response (Azure Blob sets it on upload): base64 MD5.
/// A multipart ETag (`…-3`) or an encrypted object's is no checksum: not offered.
public enum StoreChecksum: Sendable, Equatable {
    case sha256(hex: String, from: String)
    case md5(hex: String, from: String)

    /// What a full (non-range) response offers, if anything. `header`: a case-insensitive lookup.
    public static func offered(by header: (String) -> String?, s3: Bool) -> StoreChecksum? {
        if s3, let value = header("x-amz-checksum-sha256"), let hex = hex(base64: value, length: 32) {
            return .sha256(hex: hex, from: "x-amz-checksum-sha256")
        }
        if let value = header("Content-MD5"), let hex = hex(base64: value, length: 16) { return .md5(hex: hex, from: "Content-MD5") }
        if s3, header("x-amz-server-side-encryption") != "aws:kms", header("x-amz-server-side-encryption-customer-algorithm") == nil,
            let etag = header("ETag")
        {
            let bare = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased()
            if bare.count == 32, bare.allSatisfy(\.isHexDigit) { return .md5(hex: bare, from: "ETag (MD5 of a single-part upload)") }
        }
        return nil
    }

    public var needsMD5: Bool { if case .md5 = self { true } else { false } }

    /// `nil` when the content matches; else why not.
    public func mismatch(sha256: String, md5: String?) -> String? {
        switch self {
        case .sha256(let hex, let from): hex == sha256 ? nil : "its SHA-256 \(sha256) differs from the store's \(from) \(hex)"
        case .md5(let hex, let from): md5 == hex ? nil : "its MD5 \(md5 ?? "-") differs from the store's \(from) \(hex)"
        }
    }

    /// For the provenance statement: `matched <what>`.
    public var matchedText: String {
        switch self {
        case .sha256(_, let from), .md5(_, let from): "matched \(from)"
        }
    }

    public static let notOffered = "not offered by the store"

    static func hex(base64: String, length: Int) -> String? {
        guard let data = Data(base64Encoded: base64.trimmingCharacters(in: .whitespaces)), data.count == length else { return nil }
        return Array(data).hexString
    }
}
