import Hummingbird
import SlipwayCore

/// `GET /api/v1/repositories` and `GET /api/v1/repositories/{owner}/{name}`: what runs
/// where (`RepositoryStatusSource`). An unconfigured repository is 404.
struct RepositoryAPI: Sendable {
    let source: RepositoryStatusSource
    let api: OperatorAPI

    func register(on router: Router<BasicRequestContext>) {
        let group = router.group("/api/v1")
        group.get("repositories") { request, context in
            try await api.authorized(request, context) { _ in
                JSONReply.make(.ok, RepositoryStatusList(repositories: try await source.all()))
            }
        }
        group.get("repositories/:owner/:name") { request, context in
            try await api.authorized(request, context) { _ in
                let name = "\(context.parameters.get("owner") ?? "")/\(context.parameters.get("name") ?? "")"
                guard let repository = source.config.snapshot.config.repository(named: name) else {
                    return JSONReply.error(.notFound, "repository \(TerminalText.escaped(String(name.prefix(200)))) is not configured")
                }
                return JSONReply.make(.ok, try await source.status(of: repository))
            }
        }
    }
}
