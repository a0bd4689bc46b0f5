import Hummingbird
import SlipwayPipeline
import SlipwayStore

/// /healthz: the process answers. /readyz: the database answers and the queue runs.
/// Neither needs a token, and neither says more than ok / what is not ready.
struct HealthRoutes: Sendable {
    let store: any StoreHealth
    let queue: BuildQueue

    func register(on router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in JSONReply.make(.ok, ["status": "ok"]) }
        router.get("/readyz") { _, context in
            do {
                try await store.ping()
            } catch {
                context.logger.warning("not ready: database", metadata: ["error": "\(error)"])
                return JSONReply.make(.serviceUnavailable, ["status": "database cannot be written"])
            }
            guard queue.isAccepting else {
                return JSONReply.make(.serviceUnavailable, ["status": "build queue not running"])
            }
            return JSONReply.make(.ok, ["status": "ready"])
        }
    }
}
