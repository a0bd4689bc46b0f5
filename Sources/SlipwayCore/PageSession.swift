/// The build pages' login cookie: `NAME.EXPIRY.MAC`, where MAC is HMAC-SHA256 keyed with
/// the operator token named NAME over "slipway-page-session|NAME|EXPIRY". The token itself
/// never leaves the login form; removing or rotating a token ends its sessions; nothing is
/// stored server-side, so sessions survive restarts and work across replicas.
public enum PageSession {
    public static let cookieName = "slipway_session"

    public static func make(tokenName: String, tokenValue: String, expires: Int64) -> String {
        "\(tokenName).\(expires).\(mac(tokenName: tokenName, tokenValue: tokenValue, expires: expires).hexString)"
    }

    /// The token name of a valid, unexpired session; nil otherwise. `tokenValue` looks up
    /// the configured value of a token by name.
    public static func verify(_ cookie: String, now: Int64, tokenValue: (String) -> String?) -> String? {
        let parts = cookie.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 3, let expires = Int64(parts[parts.count - 2]), expires > now,
            let presented = [UInt8](hexString: parts[parts.count - 1])
        else { return nil }
        let name = parts.dropLast(2).joined(separator: ".")   // a token name may contain dots
        guard let value = tokenValue(name) else { return nil }
        let expected = mac(tokenName: name, tokenValue: value, expires: expires)
        return Crypto.constantTimeEquals(expected, presented) ? name : nil
    }

    static func mac(tokenName: String, tokenValue: String, expires: Int64) -> [UInt8] {
        Crypto.hmacSHA256(key: Array(tokenValue.utf8), message: Array("slipway-page-session|\(tokenName)|\(expires)".utf8))
    }
}
