import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SlipwayCore
import SlipwayPipeline
import SlipwayStore

/// The human pages: `/` (builds), `/builds/{id}` (one build), its raw log and its live
/// log as server-sent events, `/repositories` (what runs where), sign-in and sign-out,
/// and the two static assets.
struct PageRoutes: Sendable {
    let store: any BuildQueryStore
    let config: LiveConfig
    let followers: LogFollowers
    let logs: BuildLogSource
    let statuses: RepositoryStatusSource

    /// How much of a log a page shows at most; the raw log has all of it.
    static let pageLogBytes: UInt64 = 1 << 20

    var access: PageAccess { PageAccess(config: config) }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/") { request, _ in try await signedIn(request) { try await list(request, $0) } }
        router.get("/builds/:id") { request, context in try await signedIn(request) { try await show(context, $0) } }
        router.get("/repositories") { request, _ in
            try await signedIn(request) { html(RepositoriesPage(repositories: try await statuses.all()).render(viewer: $0)) }
        }
        router.get("/builds/:id/log.txt") { request, context in try await rawLog(request, context) }
        router.get("/builds/:id/provenance.json") { request, context in
            guard access.viewer(request) != nil else { return plain(.unauthorized, "sign in at /login\n") }
            return try await OperatorAPI.provenance(context, store)
        }
        router.get("/builds/:id/events") { request, context in try await events(request, context) }
        router.get("/login") { request, _ in
            html(
                LoginPage.render(
                    next: PageAccess.localPath(request.uri.queryParameters["next"].map(String.init)), error: nil,
                    tokensConfigured: !config.snapshot.config.api.tokens.isEmpty))
        }
        router.post("/login") { request, context in try await login(request, context) }
        router.post("/logout") { _, _ in
            var response = Response(status: .seeOther, headers: [.location: "/login"])
            response.setCookie(access.signedOutCookie)
            return response
        }
        router.get("/assets/slipway.css") { _, _ in asset(PageAssets.stylesheet, type: "text/css; charset=utf-8") }
        router.get("/assets/build.js") { _, _ in asset(PageAssets.script, type: "text/javascript; charset=utf-8") }
    }

    /// Runs `page` for a viewer, or sends a browser to sign in first.
    func signedIn(_ request: Request, _ page: (PageViewer) async throws -> Response) async throws -> Response {
        guard let viewer = access.viewer(request) else {
            let next = request.uri.path + (request.uri.query.map { "?\($0)" } ?? "")
            return Response(status: .seeOther, headers: [.location: "/login?next=\(HTML.query(next))"])
        }
        return try await page(viewer)
    }

    func list(_ request: Request, _ viewer: PageViewer) async throws -> Response {
        let query = request.uri.queryParameters
        let filter: BuildFilter
        switch BuildListQuery.parse({ query[Substring($0)].map(String.init) }) {
        case .success(let parsed): filter = parsed
        case .failure(let problem):
            return html(
                HTML.page(title: "Builds", viewer: viewer, body: "<p class=\"error\">\(HTML.escape(problem.message))</p>"),
                status: .badRequest)
        }
        let builds = try await store.builds(filter)
        let page = BuildListPage(
            builds: builds, repositories: config.snapshot.config.repositories.map(\.name), filter: filter,
            nextBefore: builds.count == filter.limit ? builds.last?.id : nil)
        return html(page.render(viewer: viewer))
    }

    func show(_ context: BasicRequestContext, _ viewer: PageViewer) async throws -> Response {
        guard let id = context.parameters.get("id").flatMap(Int64.init), let build = try await store.build(id: id) else {
            return html(
                HTML.page(title: "Not found", viewer: viewer, body: "<h1>No such build</h1><p><a href=\"/\">All builds</a></p>"),
                status: .notFound)
        }
        let excerpt = try await logExcerpt(id, limit: Self.pageLogBytes)
        let page = BuildPage(
            build: build, steps: try await store.steps(buildID: id), log: excerpt,
            attested: try await store.provenance(buildID: id) != nil)
        return html(page.render(viewer: viewer))
    }

    func rawLog(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard access.viewer(request) != nil else { return plain(.unauthorized, "sign in at /login\n") }
        guard let id = context.parameters.get("id").flatMap(Int64.init), try await store.build(id: id) != nil else {
            return plain(.notFound, "no such build\n")
        }
        return plain(.ok, try await logs.whole(id))
    }

    /// Server-sent events: `log` events carry complete lines (their `id` is the log
    /// offset after them, so a reconnecting browser resumes where it stopped, via
    /// Last-Event-ID); one `end` event carries the final state.
    func events(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard access.viewer(request) != nil else { return plain(.unauthorized, "sign in at /login\n") }
        guard let id = context.parameters.get("id").flatMap(Int64.init), try await store.build(id: id) != nil else {
            return plain(.notFound, "no such build\n")
        }
        let given =
            request.headers[.lastEventID].map { ("Last-Event-ID", $0) }
            ?? request.uri.queryParameters["offset"].map { ("offset", String($0)) }
        let start: UInt64
        switch given {
        case nil: start = 0
        case (let name, let text)?:
            guard let offset = LogOffset.parse(text) else {
                return plain(.badRequest, "\(name) must be a byte offset from 0 to \(LogOffset.maximum)\n")
            }
            start = offset
        }
        context.logger.info("pages: live log followed", metadata: ["build": "\(id)", "offset": "\(start)"])
        let tail = LogTail(store: store, followers: followers, logs: logs)
        let store = self.store
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "retry: 3000\n\n"))
            var pending = Data()
            var consumed = start
            try await tail.follow(id, from: start) { data, end in
                pending.append(data)
                guard let newline = pending.lastIndex(of: UInt8(ascii: "\n")) else { return }
                let lines = pending[pending.startIndex..<newline]
                pending = Data(pending[(newline + 1)...])
                consumed = end - UInt64(pending.count)
                try await writer.write(ByteBuffer(string: ServerSentEvent.log(lines, id: consumed)))
            }
            if !pending.isEmpty {
                try await writer.write(ByteBuffer(string: ServerSentEvent.log(pending, id: consumed + UInt64(pending.count))))
            }
            // Not final: the daemon is shutting down; the browser reconnects (retry) and resumes.
            if let state = try await store.build(id: id)?.state, state.isTerminal {
                try await writer.write(ByteBuffer(string: "event: end\ndata: {\"state\":\"\(state.rawValue)\"}\n\n"))
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store",
                HTTPField.Name("X-Accel-Buffering")!: "no",
            ], body: body)
    }

    func login(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        struct Form: Decodable { var token: String?; var next: String? }
        let text = String(buffer: try await request.body.collect(upTo: 16 * 1024))
        let form = (try? URLEncodedFormDecoder().decode(Form.self, from: text)) ?? Form()
        let next = PageAccess.localPath(form.next)
        let snapshot = config.snapshot
        guard let token = form.token, let name = snapshot.apiTokenName(matching: token), let value = snapshot.apiTokenValue(named: name)
        else {
            context.logger.notice("pages: sign-in refused")
            return html(
                LoginPage.render(
                    next: next, error: "That is not an operator token.", tokensConfigured: !snapshot.config.api.tokens.isEmpty),
                status: .unauthorized)
        }
        context.logger.notice("pages: signed in", metadata: ["token": "\(name)"])
        var response = Response(status: .seeOther, headers: [.location: next])
        response.setCookie(access.sessionCookie(tokenName: name, tokenValue: value))
        return response
    }

    /// The last `limit` bytes of the log, from a line start, and the offset read up to.
    func logExcerpt(_ id: Int64, limit: UInt64) async throws -> BuildPage.LogExcerpt {
        let size = try await logs.size(id)
        var start = size > limit ? size - limit : 0
        var data = Data(try await logs.bytes(id, from: start, count: Int(size - start)))
        let end = start + UInt64(data.count)
        if start > 0, let newline = data.firstIndex(of: UInt8(ascii: "\n")) {
            start += UInt64(newline - data.startIndex + 1)
            data = Data(data[(newline + 1)...])
        }
        return .init(text: String(decoding: data, as: UTF8.self), offset: end, omittedBytes: start)
    }
}

/// Responses of the pages: HTML with a strict content security policy (own script and
/// stylesheet only), never cached (they show private build data).
func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: PageHeaders.html, body: .init(byteBuffer: ByteBuffer(string: text)))
}

func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
    Response(
        status: status, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
        body: .init(byteBuffer: ByteBuffer(string: text)))
}

func asset(_ text: String, type: String) -> Response {
    Response(
        status: .ok, headers: [.contentType: type, .cacheControl: "no-cache", .xContentTypeOptions: "nosniff"],
        body: .init(byteBuffer: ByteBuffer(string: text)))
}

enum PageHeaders {
    static let html: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .cacheControl: "no-store",
        .contentSecurityPolicy:
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .xContentTypeOptions: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]
}

/// The text of server-sent events (one `data:` line per log line).
enum ServerSentEvent {
    static func log(_ lines: some Collection<UInt8>, id: UInt64) -> String {
        var event = "id: \(id)\nevent: log\n"
        for line in String(decoding: lines, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            event += "data: " + line.replacingOccurrences(of: "\r", with: "") + "\n"
        }
        return event + "\n"
    }
}

extension HTTPField.Name {
    static let lastEventID = Self("Last-Event-ID")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
}
