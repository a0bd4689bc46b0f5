import Foundation

/// AWS Signature Version 4 for S3 requests (header auth). Pure: the caller gives the
/// request's parts and the time; HMAC-SHA256 and SHA-256 come from OpenSSL.
public struct SigV4: Sendable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    public var region: String
    public var service: String = "s3"

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, region: String, service: String = "s3") {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
        self.service = service
    }

    public struct Request: Sendable {
        public var method: String
        /// The path as sent, already URI-encoded (S3: each segment encoded, `/` kept).
        public var path: String
        public var query: [(name: String, value: String)]
        /// Header names in any case; `host` must be present.
        public var headers: [String: String]
        /// Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
        public var payloadHash: String

        public init(
            method: String, path: String, query: [(name: String, value: String)] = [], headers: [String: String], payloadHash: String
        ) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }
    }

    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The headers to add: x-amz-date, x-amz-content-sha256, x-amz-security-token (if a
    /// session token is set) and Authorization.
    public func sign(_ request: Request, at date: Date) -> [String: String] {
        let (amzDate, day) = Self.timestamps(date)
        var headers = request.headers
        headers["x-amz-date"] = amzDate
        headers["x-amz-content-sha256"] = request.payloadHash
        if let sessionToken { headers["x-amz-security-token"] = sessionToken }
        var signed = request
        signed.headers = headers
        let (canonical, signedHeaders) = Self.canonicalRequest(signed)
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let toSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(Crypto.sha256(Array(canonical.utf8)).hexString)"
        let signature = Crypto.hmacSHA256(key: signingKey(day: day), message: Array(toSign.utf8)).hexString
        var added = ["x-amz-date": amzDate, "x-amz-content-sha256": request.payloadHash]
        if let sessionToken { added["x-amz-security-token"] = sessionToken }
        added["Authorization"] =
            "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return added
    }

    public static func timestamps(_ date: Date) -> (amzDate: String, day: String) {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let amzDate = formatter.string(from: date)
        return (amzDate, String(amzDate.prefix(8)))
    }

    public static func canonicalRequest(_ request: Request) -> (text: String, signedHeaders: String) {
        let headers = request.headers
            .map { (name: $0.key.lowercased(), value: $0.value.trimmingCharacters(in: .whitespaces)) }
            .sorted { $0.name < $1.name }
        let canonicalHeaders = headers.map { "\($0.name):\($0.value)\n" }.joined()
        let signedHeaders = headers.map(\.name).joined(separator: ";")
        let encoded: [(String, String)] = request.query.map { (uriEncode($0.name), uriEncode($0.value)) }
        let sorted = encoded.sorted { (a: (String, String), b: (String, String)) -> Bool in a.0 == b.0 ? a.1 < b.1 : a.0 < b.0 }
        let query = sorted.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let text = [request.method, request.path, query, canonicalHeaders, signedHeaders, request.payloadHash].joined(separator: "\n")
        return (text, signedHeaders)
    }

    func signingKey(day: String) -> [UInt8] {
        let date = Crypto.hmacSHA256(key: Array("AWS4\(secretAccessKey)".utf8), message: Array(day.utf8))
        let region = Crypto.hmacSHA256(key: date, message: Array(self.region.utf8))
        let service = Crypto.hmacSHA256(key: region, message: Array(self.service.utf8))
        return Crypto.hmacSHA256(key: service, message: Array("aws4_request".utf8))
    }

    /// RFC 3986 unreserved characters kept, everything else %XX (upper case), as SigV4 wants.
    public static func uriEncode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Character(UnicodeScalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || "-_.~".contains(c)) || (keepSlash && c == "/") {
                out.append(c)
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
