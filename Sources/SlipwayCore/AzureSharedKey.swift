import Foundation

/// Azure Storage Shared Key authorization for the Blob service (version 2009-09-19 and
/// later). Pure: the caller gives the request's parts; HMAC-SHA256 comes from OpenSSL.
public struct AzureSharedKey: Sendable {
    public let account: String
    /// The account key as Azure shows it (base64).
    let key: [UInt8]

    public init?(account: String, base64Key: String) {
        guard let key = Data(base64Encoded: base64Key) else { return nil }
        self.account = account
        self.key = Array(key)
    }

    /// The standard headers in the order the string-to-sign lists them.
    static let standardHeaders = [
        "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
        "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
    ]

    /// `path` is the URL path as sent (e.g. `/container/blob`); `query` decoded name/value pairs.
    public func stringToSign(method: String, path: String, query: [(name: String, value: String)], headers: [String: String]) -> String {
        let lower = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { $1 })
        var lines = [method.uppercased()]
        for name in Self.standardHeaders {
            var value = lower[name] ?? ""
            if name == "content-length", value == "0" { value = "" }
            lines.append(value)
        }
        let canonicalHeaders = lower.filter { $0.key.hasPrefix("x-ms-") }
            .map { ($0.key, $0.value.trimmingCharacters(in: .whitespaces)) }
            .sorted { $0.0 < $1.0 }
            .map { "\($0.0):\($0.1)" }
        var resource = "/\(account)\(path)"
        let grouped = Dictionary(grouping: query, by: { $0.name.lowercased() })
        for name in grouped.keys.sorted() {
            let values = grouped[name]!.map(\.value).sorted().joined(separator: ",")
            resource += "\n\(name):\(values)"
        }
        return (lines + canonicalHeaders + [resource]).joined(separator: "\n")
    }

    public func authorization(method: String, path: String, query: [(name: String, value: String)], headers: [String: String]) -> String {
        let signature = Crypto.hmacSHA256(
            key: key, message: Array(stringToSign(method: method, path: path, query: query, headers: headers).utf8))
        return "SharedKey \(account):\(Data(signature).base64EncodedString())"
    }
}
