/// Where a PostgreSQL database is: `database: postgres://USER@HOST:PORT/DB?sslmode=MODE`.
/// The password is never in the URL (`database_password` names where it is kept), and
/// the URL is never repeated in an error: a password typed into it by mistake must not
/// reach a log.
public struct PostgresLocation: Sendable, Equatable {
    /// `sslmode`: no TLS; TLS without checking the server's certificate; TLS with the
    /// certificate checked against the system's roots and the host name. libpq's `prefer`
    /// and `allow`, which fall back to plain text unseen, are not offered.
    public enum TLS: String, Sendable, CaseIterable {
        case disable, require
        case verifyFull = "verify-full"
    }

    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var tls: TLS

    public init(user: String, host: String, port: Int = 5432, database: String, tls: TLS) {
        self.user = user
        self.host = host
        self.port = port
        self.database = database
        self.tls = tls
    }

    /// What is wrong with a `database:` URL, in words that never quote it.
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case notPostgres
        case passwordInURL
        case missing(String)
        case badPort
        case badEncoding(String)
        case unknownParameter(String)
        case badTLSMode

        public var description: String {
            switch self {
            case .notPostgres: "must be 'sqlite' or a postgres:// URL"
            case .passwordInURL:
                "the URL holds a password; remove it and give it in database_password (env:NAME or file:PATH)"
            case .missing(let part): "the URL has no \(part) (postgres://USER@HOST:PORT/DB?sslmode=MODE)"
            case .badPort: "the URL's port must be a number from 1 to 65535"
            case .badEncoding(let part): "the URL's \(part) has a malformed %-escape"
            case .unknownParameter(let name): "the URL's parameter '\(name.prefix(40))' is not supported (only sslmode)"
            case .badTLSMode: "the URL's sslmode must be \(TLS.allCases.map(\.rawValue).joined(separator: ", "))"
            }
        }
    }

    public static func parse(_ url: String) throws(Problem) -> PostgresLocation {
        let rest: Substring
        if url.hasPrefix("postgres://") {
            rest = url.dropFirst("postgres://".count)
        } else if url.hasPrefix("postgresql://") {
            rest = url.dropFirst("postgresql://".count)
        } else {
            throw .notPostgres
        }
        let (beforeQuery, query) = split(rest, at: "?")
        let (authority, path) = split(beforeQuery, at: "/")
        guard let at = authority.lastIndex(of: "@") else { throw .missing("user") }
        let userInfo = authority[..<at]
        if userInfo.contains(":") { throw .passwordInURL }
        let user = try decode(userInfo, part: "user")
        guard !user.isEmpty else { throw .missing("user") }
        let (host, port) = try hostAndPort(authority[authority.index(after: at)...])
        guard let path, !path.isEmpty else { throw .missing("database name") }
        let database = try decode(path, part: "database name")
        guard !database.isEmpty, !database.contains("/") else { throw .missing("database name") }
        var tls: TLS?
        for pair in (query ?? "").split(separator: "&") where !pair.isEmpty {
            let (name, value) = split(pair, at: "=")
            guard name == "sslmode" else {
                if name == "password" { throw .passwordInURL }
                throw .unknownParameter(String(name))
            }
            guard let mode = value.flatMap({ TLS(rawValue: String($0)) }) else { throw .badTLSMode }
            tls = mode
        }
        guard let tls else { throw .missing("sslmode") }
        return PostgresLocation(user: user, host: host, port: port, database: database, tls: tls)
    }

    private static func hostAndPort(_ text: Substring) throws(Problem) -> (String, Int) {
        var host = text
        var portText: Substring?
        if text.hasPrefix("[") {
            // An IPv6 literal: [::1]:5432
            guard let close = text.firstIndex(of: "]") else { throw .missing("host") }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .badPort }
                portText = after.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "%" }) else { throw .missing("host") }
        guard let portText else { return (String(host), 5432) }
        guard portText.count <= 5, let port = Int(portText), (1...65_535).contains(port) else { throw .badPort }
        return (String(host), port)
    }

    private static func split(_ text: Substring, at separator: Character) -> (Substring, Substring?) {
        guard let index = text.firstIndex(of: separator) else { return (text, nil) }
        return (text[..<index], text[text.index(after: index)...])
    }

    /// Percent-decoding, refusing a malformed escape and bytes that are not UTF-8.
    private static func decode(_ text: Substring, part: String) throws(Problem) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw .badEncoding(part)
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self), !decoded.contains("\0") else { throw .badEncoding(part) }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
