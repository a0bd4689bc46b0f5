import Foundation

/// Server-rendered HTML: every value from a build, a log or a request goes through
/// `escape`; the layout links one stylesheet and one script, both served by Slipway
/// (no JavaScript build chain, no third-party origin; the CSP allows nothing else).
enum HTML {
    static func escape(_ text: some StringProtocol) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A query-string value, percent-encoded.
    static func query(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~/"))) ?? ""
    }

    static func page(title: String, viewer: PageViewer, body: String) -> String {
        let account =
            switch viewer {
            case .publicAccess: ""
            case .operator(let name):
                """
                <form class="account" method="post" action="/logout">signed in as \(escape(name)) <button type="submit">Sign out</button></form>
                """
            }
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · Slipway</title>
            <link rel="stylesheet" href="/assets/slipway.css">
            <script src="/assets/build.js" defer></script>
            </head>
            <body>
            <header><nav><a class="brand" href="/">Slipway</a> <a href="/">Builds</a> <a href="/repositories">What runs where</a></nav>\(account)</header>
            <main>
            \(body)
            </main>
            </body>
            </html>

            """
    }

    static func state(_ state: String, id: String? = nil) -> String {
        "<span\(id.map { " id=\"\($0)\"" } ?? "") class=\"state state-\(escape(state))\">\(escape(state))</span>"
    }
}

/// Who is looking at a page.
enum PageViewer: Sendable {
    /// `server.public_pages: true`, no sign-in.
    case publicAccess
    /// Signed in (cookie) or a bearer token, by the token's name.
    case `operator`(String)
}
