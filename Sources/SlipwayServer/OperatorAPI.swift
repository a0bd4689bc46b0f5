import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SlipwayCore
import SlipwayPipeline
import SlipwayStore

/// The operator API (SPEC "Operator API"): bearer tokens from `api.tokens`, compared in
/// constant time; the token's name is logged with every action. JSON in and out; 400,
/// 401, 404 and 409 with a reason.
struct OperatorAPI: Sendable {
    let store: any BuildQueryStore & StoreHealth
    let intake: BuildIntake
    let config: LiveConfig
    let queue: BuildQueue
    let followers: LogFollowers
    let logs: BuildLogSource

    func register(on router: Router<BasicRequestContext>) {
        let api = router.group("/api/v1")
        api.get("builds") { request, context in try await authorized(request, context) { try await list(request, $0) } }
        api.post("builds") { request, context in try await authorized(request, context) { try await create(request, context, $0) } }
        api.get("builds/:id") { request, context in try await authorized(request, context) { _ in try await show(context) } }
        api.post("builds/:id/cancel") { request, context in try await authorized(request, context) { try await cancel(context, $0) } }
        api.post("builds/:id/rebuild") { request, context in try await authorized(request, context) { try await rebuild(context, $0) } }
        api.get("builds/:id/log") { request, context in try await authorized(request, context) { _ in try await log(request, context) } }
        api.get("builds/:id/provenance") { request, context in
            try await authorized(request, context) { _ in try await Self.provenance(context, store) }
        }
    }

    /// Runs `handler` with a logger naming the token, or answers 401.
    func authorized(_ request: Request, _ context: BasicRequestContext, _ handler: (Logger) async throws -> Response) async throws
        -> Response
    {
        guard let name = Self.bearerTokenName(request, config.snapshot) else {
            context.logger.notice("operator API: refused", metadata: ["path": "\(request.uri.path)"])
            return JSONReply.error(.unauthorized, "missing or wrong bearer token", headers: [.wwwAuthenticate: "Bearer"])
        }
        var logger = context.logger
        logger[metadataKey: "token"] = "\(name)"
        // A change the store cannot keep now is refused, not half made.
        if request.method == .post, let problem = store.writeProblem {
            logger.error(
                "operator API: refused, the store cannot be written", metadata: ["path": "\(request.uri.path)", "reason": "\(problem)"])
            return JSONReply.error(.serviceUnavailable, "the daemon cannot store changes now: \(problem)", headers: [.retryAfter: "30"])
        }
        return try await handler(logger)
    }

    /// The name of the operator token in `Authorization: Bearer …`, when it is one.
    static func bearerTokenName(_ request: Request, _ config: ResolvedConfig) -> String? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        return config.apiTokenName(matching: String(header.dropFirst(7)))
    }

    func buildID(_ context: BasicRequestContext) -> Int64? { context.parameters.get("id").flatMap(Int64.init) }

    func list(_ request: Request, _ logger: Logger) async throws -> Response {
        let query = request.uri.queryParameters
        let filter: BuildFilter
        switch BuildListQuery.parse({ query[Substring($0)].map(String.init) }) {
        case .success(let parsed): filter = parsed
        case .failure(let problem): return JSONReply.error(.badRequest, problem.message)
        }
        let builds = try await store.builds(filter)
        let next = builds.count == filter.limit ? builds.last?.id : nil
        return JSONReply.make(.ok, BuildList(builds: builds.map { BuildJSON($0, steps: nil) }, nextBefore: next))
    }

    func show(_ context: BasicRequestContext) async throws -> Response {
        guard let id = buildID(context), let build = try await store.build(id: id) else {
            return JSONReply.error(.notFound, "no such build")
        }
        return JSONReply.make(.ok, BuildJSON(build, steps: try await store.steps(buildID: id)))
    }

    /// The build's signed attestation, the DSSE envelope as stored; 404 without one.
    static func provenance(_ context: BasicRequestContext, _ store: any BuildQueryStore) async throws -> Response {
        guard let id = context.parameters.get("id").flatMap(Int64.init), try await store.build(id: id) != nil else {
            return JSONReply.error(.notFound, "no such build")
        }
        guard let envelope = try await store.provenance(buildID: id) else {
            return JSONReply.error(.notFound, "build \(id) has no attestation (provenance: is not configured, or no image was pushed)")
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: envelope)))
    }

    func cancel(_ context: BasicRequestContext, _ logger: Logger) async throws -> Response {
        guard let id = buildID(context), let build = try await store.build(id: id) else {
            return JSONReply.error(.notFound, "no such build")
        }
        let who = logger[metadataKey: "token"].map { "\($0)" } ?? "operator"
        switch try await queue.cancel(build, by: who) {
        case .stopping: logger.notice("build cancel requested", metadata: ["build": "\(id)"])
        case .canceled: logger.notice("build canceled", metadata: ["build": "\(id)"])
        case .alreadyEnded(let state) where state == build.state:
            return JSONReply.error(.conflict, "build \(id) is \(state.rawValue); only queued or running builds can be canceled")
        case .alreadyEnded:
            return JSONReply.error(.conflict, "build \(id) has already ended")
        }
        return JSONReply.make(.accepted, ["build": String(id), "cancel": "requested"])
    }

    func rebuild(_ context: BasicRequestContext, _ logger: Logger) async throws -> Response {
        guard let id = buildID(context), let build = try await store.build(id: id) else {
            return JSONReply.error(.notFound, "no such build")
        }
        guard config.snapshot.config.repository(named: build.repository) != nil else {
            return JSONReply.error(.conflict, "repository \(build.repository) is no longer configured")
        }
        let new = try await intake.request(
            BuildRequest(
                repository: build.repository, ref: build.ref, sha: build.sha, cloneURL: build.cloneURL,
                trigger: .rebuild, deliveryID: nil))
        logger.notice("rebuild queued", metadata: ["build": "\(new.id)", "of": "\(id)"])
        return JSONReply.make(.created, BuildJSON(new, steps: nil))
    }

    struct CreateBody: Decodable {
        var repository: String
        var ref: String?
        var sha: String?
    }

    func create(_ request: Request, _ context: BasicRequestContext, _ logger: Logger) async throws -> Response {
        let body: CreateBody
        do {
            body = try JSONDecoder().decode(CreateBody.self, from: Data(buffer: try await request.body.collect(upTo: 64 * 1024)))
        } catch {
            return JSONReply.error(
                .badRequest, "body must be JSON {\"repository\": \"owner/name\", \"ref\"?: \"refs/heads/main\", \"sha\"?: \"40 or 64 hex\"}"
            )
        }
        guard let repository = config.snapshot.config.repository(named: body.repository) else {
            return JSONReply.error(.badRequest, "repository \(body.repository) is not configured")
        }
        let ref = body.ref.map(GitRefName.qualified)
        if let ref, !GitRefName.isValid(ref) {
            return JSONReply.error(.badRequest, "ref is not a valid git ref name (no control characters, spaces, '..' or ~^:?*[\\)")
        }
        let new: Build
        if let given = body.sha {
            guard let sha = CommitID(given) else { return JSONReply.error(.badRequest, "sha must be \(CommitID.expected)") }
            new = try await intake.request(
                BuildRequest(
                    repository: repository.name, ref: ref ?? "refs/heads/main", sha: sha,
                    cloneURL: repository.cloneURL, trigger: .rebuild, deliveryID: nil))
        } else {
            do {
                new = try await intake.requestHead(of: repository, ref: ref, trigger: .rebuild)
            } catch let problem as BuildIntake.HeadProblem {
                if case .noCloneURL = problem { return JSONReply.error(.badRequest, "give sha: \(problem)") }
                return JSONReply.error(.badRequest, problem.description)
            }
        }
        logger.notice("build requested", metadata: ["build": "\(new.id)", "repo": "\(repository.name)", "ref": "\(new.ref)"])
        return JSONReply.make(.created, BuildJSON(new, steps: nil))
    }

    func log(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard let id = buildID(context), try await store.build(id: id) != nil else { return JSONReply.error(.notFound, "no such build") }
        if request.uri.queryParameters["follow"] == "true" { return follow(id) }
        var text = try await logs.whole(id)
        if let tail = request.uri.queryParameters["tail"] {
            guard let count = Int(tail), count >= 0 else { return JSONReply.error(.badRequest, "tail must be a number of lines") }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let kept = lines.last == "" ? lines.dropLast() : lines[...]
            text = kept.suffix(count).joined(separator: "\n") + (kept.isEmpty ? "" : "\n")
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

extension OperatorAPI {
    /// `?follow=true`: the log so far, then each new part as the build writes it, until
    /// the build ends. Chunked.
    func follow(_ id: Int64) -> Response {
        let tail = LogTail(store: store, followers: followers, logs: logs)
        let body = ResponseBody { writer in
            try await tail.follow(id, from: 0) { data, _ in try await writer.write(ByteBuffer(bytes: data)) }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: body)
    }
}

extension BuildJSON {
    init(_ build: Build, steps: [StepRecord]?) {
        self.init(
            id: build.id, repository: build.repository, ref: build.ref, sha: build.sha.hex, trigger: build.trigger.rawValue,
            state: build.state.rawValue, reason: build.reason, deliveryID: build.deliveryID, createdAt: build.createdAt,
            startedAt: build.startedAt, finishedAt: build.finishedAt, attempts: build.attempts, image: build.image, model: build.model,
            steps: steps?.map {
                Step(
                    name: $0.name, attempt: $0.attempt, state: $0.state.rawValue, startedAt: $0.startedAt, finishedAt: $0.finishedAt,
                    exitCode: $0.exitCode, detail: $0.detail)
            })
    }
}
