import Foundation
import Hummingbird
import Logging
import SlipwayCore
import SlipwayPipeline
import SlipwayStore

/// `POST /api/v1/deployments`, `GET /api/v1/deployments`, and (beyond the SPEC's table,
/// for following one) `GET /api/v1/deployments/{id}` and `/{id}/log`.
struct DeploymentAPI: Sendable {
    let deployments: any DeploymentStore
    let runner: DeployRunner
    let config: LiveConfig
    let api: OperatorAPI

    func register(on router: Router<BasicRequestContext>) {
        let group = router.group("/api/v1")
        group.post("deployments") { request, context in try await api.authorized(request, context) { try await create(request, $0) } }
        group.get("deployments") { request, context in try await api.authorized(request, context) { _ in try await list(request) } }
        group.get("deployments/:id") { request, context in try await api.authorized(request, context) { _ in try await show(context) } }
        group.get("deployments/:id/log") { request, context in try await api.authorized(request, context) { _ in try await log(context) } }
    }

    struct CreateBody: Decodable {
        var repository: String
        var build: Int64?
    }

    func create(_ request: Request, _ logger: Logger) async throws -> Response {
        let body: CreateBody
        do {
            body = try JSONDecoder().decode(CreateBody.self, from: Data(buffer: try await request.body.collect(upTo: 64 * 1024)))
        } catch {
            return JSONReply.error(.badRequest, "body must be JSON {\"repository\": \"owner/name\", \"build\"?: 12}")
        }
        let who = logger[metadataKey: "token"].map { "\($0)" } ?? "operator"
        do {
            let deployment = try await runner.request(repository: body.repository, buildID: body.build, trigger: .manual, requestedBy: who)
            logger.notice(
                "deployment requested",
                metadata: [
                    "deployment": "\(deployment.id)", "repo": "\(deployment.repository)",
                    "build": "\(deployment.buildID)", "image": "\(deployment.image)",
                ])
            return JSONReply.make(.created, DeploymentJSON(deployment))
        } catch let error as DeployRunner.RequestError {
            switch error {
            case .notConfigured: return JSONReply.error(.badRequest, error.description)
            case .noSuchBuild: return JSONReply.error(.notFound, error.description)
            case .notDeployable, .busy: return JSONReply.error(.conflict, error.description)
            }
        }
    }

    func list(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let repository = query["repository"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        var limit = 50
        if let text = query["limit"] {
            guard let parsed = Int(text), (1...200).contains(parsed) else { return JSONReply.error(.badRequest, "limit must be 1 to 200") }
            limit = parsed
        }
        let found = try await deployments.deployments(repository: repository, limit: limit)
        return JSONReply.make(.ok, DeploymentList(deployments: found.map(DeploymentJSON.init)))
    }

    func show(_ context: BasicRequestContext) async throws -> Response {
        guard let id = context.parameters.get("id").flatMap(Int64.init), let deployment = try await deployments.deployment(id: id) else {
            return JSONReply.error(.notFound, "no such deployment")
        }
        return JSONReply.make(.ok, DeploymentJSON(deployment))
    }

    func log(_ context: BasicRequestContext) async throws -> Response {
        guard let id = context.parameters.get("id").flatMap(Int64.init), try await deployments.deployment(id: id) != nil else {
            return JSONReply.error(.notFound, "no such deployment")
        }
        let path = DeployRunner.logPath(stateDirectory: config.snapshot.config.stateDirectory, deploymentID: id)
        return plain(.ok, (try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }
}
