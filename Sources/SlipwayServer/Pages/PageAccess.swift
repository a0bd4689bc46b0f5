import Foundation
import Hummingbird
import SlipwayCore

/// Who may see the build pages (SPEC "Other endpoints"): everyone with
/// `server.public_pages: true`; otherwise an operator, by the login cookie
/// (`PageSession`) or an `Authorization: Bearer` header (scripts, curl).
struct PageAccess: Sendable {
    let config: LiveConfig
    static let sessionSeconds: Int64 = 12 * 3600

    func viewer(_ request: Request) -> PageViewer? {
        let snapshot = config.snapshot
        if let name = OperatorAPI.bearerTokenName(request, snapshot) { return .operator(name) }
        if let cookie = request.cookies[PageSession.cookieName]?.value,
            let name = PageSession.verify(cookie, now: Int64(Date().timeIntervalSince1970), tokenValue: snapshot.apiTokenValue(named:))
        {
            return .operator(name)
        }
        return snapshot.config.server.publicPages ? .publicAccess : nil
    }

    /// The cookie that signs in the token called `name` (its value is never in it).
    func sessionCookie(tokenName name: String, tokenValue: String) -> Cookie {
        let expires = Int64(Date().timeIntervalSince1970) + Self.sessionSeconds
        return Cookie(
            name: PageSession.cookieName, value: PageSession.make(tokenName: name, tokenValue: tokenValue, expires: expires),
            maxAge: Int(Self.sessionSeconds), path: "/", secure: isHTTPS, httpOnly: true, sameSite: .strict)
    }

    var signedOutCookie: Cookie {
        Cookie(name: PageSession.cookieName, value: "", maxAge: 0, path: "/", secure: isHTTPS, httpOnly: true, sameSite: .strict)
    }

    private var isHTTPS: Bool { config.snapshot.config.server.publicURL.lowercased().hasPrefix("https://") }

    /// A local path to return to after signing in; anything else becomes `/`. Only a
    /// path of one `/` and then a character that is not a separator is taken, and no
    /// character is removed to make it so: browsers drop tabs and newlines and read `\`
    /// as `/`, so `/<TAB>/evil.com` or `/\evil.com` would leave the site.
    static func localPath(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"),
            !next.unicodeScalars.contains(where: { $0 == "\\" || $0.properties.generalCategory == .control || $0.properties.isWhitespace })
        else { return "/" }
        let second = next.unicodeScalars.dropFirst().first
        return second == "/" ? "/" : next
    }
}
