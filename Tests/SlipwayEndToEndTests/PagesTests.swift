import Foundation
import SlipwayCore
import SlipwayTesting
import Testing

/// The human pages: sign-in, escaping, server-sent events, and the build page in a real
/// browser (Debian's headless Chromium).
@Suite struct PagesTests {
    /// `sandboxed: false` for a step that waits for a file of the test's, outside its workspace.
    func daemon(_ label: String, test: [String], publicPages: Bool, sandboxed: Bool = true) throws -> DaemonHarness {
        var env = TestSecrets.environment
        env["TEST_OPS_TOKEN"] = OperatorAPITests.token
        return try DaemonHarness(label: label, environment: env) { port, state in
            testConfig(
                port: port, stateDirectory: state, test: test,
                topLevelExtra: OperatorAPITests.apiYAML + (sandboxed ? "" : "\nsandbox: none")
            )
            .replacingOccurrences(of: "  max_body_bytes:", with: "  public_pages: \(publicPages)\n  max_body_bytes:")
        }
    }

    func header(_ reply: DaemonHarness.Reply, _ name: String) -> String? {
        reply.headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    @Test func pagesNeedASignInAndShowEscapedBuildData() async throws {
        _ = await blocking { TestRepository.shared }
        try await daemon("pages", test: ["sh", "-c", "echo '<b>not bold</b>'"], publicPages: false).run { daemon in
            let branch = "feature/<script>alert(1)</script>"
            let id = try #require(
                daemon.buildID(
                    of: try await daemon.deliver(event: "push", payload: pushPayload(branch: branch), secret: TestSecrets.repository)))
            _ = try await daemon.waitForEnd(of: id)

            // Signed out: pages send the browser to sign in; the log and events answer 401.
            let home = try await daemon.request("GET", "/", headers: [], body: nil)
            #expect(home.status == 303 && header(home, "Location") == "/login?next=/")
            let page = try await daemon.request("GET", "/builds/\(id)", headers: [], body: nil)
            #expect(page.status == 303 && header(page, "Location") == "/login?next=/builds/\(id)")
            #expect(try await daemon.request("GET", "/builds/\(id)/events", headers: [], body: nil).status == 401)
            #expect(try await daemon.request("GET", "/builds/\(id)/log.txt", headers: [], body: nil).status == 401)
            let form = try await daemon.request("GET", "/login?next=/builds/\(id)", headers: [], body: nil)
            #expect(form.status == 200 && form.text.contains(#"name="next" value="/builds/\#(id)""#))

            // A wrong token: 401, no cookie. The right one: a cookie without the token in it.
            let formHeaders = [("Content-Type", "application/x-www-form-urlencoded")]
            let wrong = try await daemon.request("POST", "/login", headers: formHeaders, body: Array("token=nope&next=/".utf8))
            #expect(wrong.status == 401 && header(wrong, "Set-Cookie") == nil)
            let signIn = try await daemon.request(
                "POST", "/login", headers: formHeaders,
                body: Array("token=\(OperatorAPITests.token)&next=%2Fbuilds%2F\(id)".utf8))
            #expect(signIn.status == 303 && header(signIn, "Location") == "/builds/\(id)")
            let setCookie = try #require(header(signIn, "Set-Cookie"))
            #expect(
                setCookie.hasPrefix("slipway_session=ops-alice.") && setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict")
            )
            #expect(!setCookie.contains(OperatorAPITests.token))
            let cookie = String(setCookie.split(separator: ";")[0])
            let offsite = try await daemon.request(
                "POST", "/login", headers: formHeaders,
                body: Array("token=\(OperatorAPITests.token)&next=//evil.example/".utf8))
            #expect(header(offsite, "Location") == "/", "no open redirect")

            // Signed in: the list and the build page, with every value escaped.
            let list = try await daemon.request("GET", "/", headers: [("Cookie", cookie)], body: nil)
            #expect(list.status == 200 && list.text.contains("href=\"/builds/\(id)\""))
            #expect(header(list, "Content-Security-Policy")?.contains("script-src 'self'") == true)
            #expect(list.text.contains("feature/&lt;script&gt;alert(1)&lt;/script&gt;") && !list.text.contains("<script>alert"))
            let shown = try await daemon.request("GET", "/builds/\(id)", headers: [("Cookie", cookie)], body: nil)
            #expect(shown.status == 200 && shown.text.contains("&lt;b&gt;not bold&lt;/b&gt;") && !shown.text.contains("<b>not bold"))
            #expect(shown.text.contains(#"<span id="state" class="state state-success">success</span>"#))
            let bearer = try await daemon.request(
                "GET", "/builds/\(id)", headers: [("Authorization", "Bearer \(OperatorAPITests.token)")], body: nil)
            #expect(bearer.status == 200)
            var forged = cookie
            forged.removeLast()
            forged += cookie.hasSuffix("0") ? "1" : "0"
            #expect(
                try await daemon.request("GET", "/", headers: [("Cookie", forged)], body: nil).status == 303, "a forged session is refused")
            #expect(try await daemon.request("GET", "/builds/999", headers: [("Cookie", cookie)], body: nil).status == 404)

            // Events of an ended build: its log lines, then the end; Last-Event-ID resumes.
            let events = try await daemon.request("GET", "/builds/\(id)/events", headers: [("Cookie", cookie)], body: nil)
            #expect(header(events, "Content-Type")?.hasPrefix("text/event-stream") == true)
            #expect(events.text.contains("event: log\ndata: ") && events.text.contains("data: <b>not bold</b>\n"))
            #expect(events.text.hasSuffix("event: end\ndata: {\"state\":\"success\"}\n\n"), "\(events.text)")
            let lastID = try #require(events.text.split(separator: "\n").last { $0.hasPrefix("id: ") }.map { String($0.dropFirst(4)) })
            let resumed = try await daemon.request(
                "GET", "/builds/\(id)/events", headers: [("Cookie", cookie), ("Last-Event-ID", lastID)], body: nil)
            #expect(!resumed.text.contains("event: log") && resumed.text.contains("event: end"), "\(resumed.text)")
            #expect(!daemon.daemonLog().contains(OperatorAPITests.token))
        }
    }

    @Test func theBuildPageInChromiumShowsLiveLogLinesAndTheFinalState() async throws {
        let gate = try TestPaths.temporaryDirectory("pages-gate")
        defer { TestPaths.removeTemporaryDirectory(gate) }
        let go = gate.appendingPathComponent("GO").path
        let step = ["sh", "-c", "printf 'first-%s\\n' line; while [ ! -f \(go) ]; do sleep 0.05; done; printf 'second-%s\\n' line"]
        let chromium = try HeadlessChromium()
        defer { chromium.remove() }
        _ = await blocking { TestRepository.shared }
        try await daemon("chromium", test: step, publicPages: true, sandboxed: false).run { daemon in
            let id = try #require(
                daemon.buildID(of: try await daemon.deliver(event: "push", payload: pushPayload(), secret: TestSecrets.repository)))
            let store = try daemon.openStore()
            let logPath = daemon.stateDirectory + "/logs/\(id).log"
            try await eventually(timeout: .seconds(30)) {
                ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").contains("first-line\n")
            }
            #expect(try await store.build(id: id)?.state == .running)

            // The browser opens the page while the build runs; the second line is written only
            // once the page follows the live log, so it can only reach the page through it.
            let opened = Task { try await chromium.dumpDOM(daemon.baseURL + "/builds/\(id)", runFor: 3000) }
            try await eventually(timeout: .seconds(60)) { daemon.daemonLog().contains("pages: live log followed") }
            _ = FileManager.default.createFile(atPath: go, contents: nil)
            let dom = try await opened.value
            #expect(try await store.build(id: id)?.state == .success)
            #expect(dom.contains("first-line"), "\(dom)")
            #expect(dom.contains(#"<span class="live">second-line"#), "the line came through server-sent events: \(dom)")
            #expect(
                dom.contains(#"<span id="state" class="state state-success">success</span>"#), "the state was refreshed at the end: \(dom)")
            #expect(dom.contains(#"<table id="steps">"#) && dom.contains("checkout"))

            let screenshot = FileManager.default.temporaryDirectory.appendingPathComponent(
                "slipway-build-page-\(id)-\(UUID().uuidString).png")
            try await chromium.screenshot(daemon.baseURL + "/builds/\(id)", to: screenshot)
            let png = try Data(contentsOf: screenshot)
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000, "a PNG of \(png.count) bytes")
            if let keep = ProcessInfo.processInfo.environment["SLIPWAY_KEEP_SCREENSHOT"] {
                try? FileManager.default.removeItem(atPath: keep)
                try FileManager.default.copyItem(at: screenshot, to: URL(fileURLWithPath: keep))
            }
            try? FileManager.default.removeItem(at: screenshot)
        }
    }
}
