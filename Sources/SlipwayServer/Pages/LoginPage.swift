/// `/login`: one field, an operator token. Posting it sets the session cookie.
enum LoginPage {
    static func render(next: String, error: String?, tokensConfigured: Bool) -> String {
        let problem = error.map { "<p class=\"error\">\(HTML.escape($0))</p>" } ?? ""
        let none = tokensConfigured ? "" : "<p class=\"error\">No operator token is configured (api.tokens), so nobody can sign in.</p>"
        let body = """
            <h1>Sign in</h1>
            \(none)\(problem)
            <form class="login" method="post" action="/login">
            <label for="token">Operator API token</label>
            <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
            <input type="hidden" name="next" value="\(HTML.escape(next))">
            <button type="submit">Sign in</button>
            </form>
            """
        return HTML.page(title: "Sign in", viewer: .publicAccess, body: body)
    }
}
