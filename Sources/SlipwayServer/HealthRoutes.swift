import Hummingbird
import Logging
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
            if let problem = await Readiness.problem(store: store, queue: queue, logger: context.logger) {
                return JSONReply.make(.serviceUnavailable, ["status": problem])
            }
            return JSONReply.make(.ok, ["status": "ready"])
        }
    }
}

/// What `/readyz` answers, also asked before slipwayd tells its service manager READY=1.
public enum Readiness {
    /// nil when ready; else what is not, as `/readyz` says it.
    public static func problem(store: any StoreHealth, queue: BuildQueue, logger: Logger) async -> String? {
        do {
            try await store.ping()
        } catch {
            logger.warning("not ready: database", metadata: ["error": "\(error)"])
            return "database cannot be written"
        }
        return queue.isAccepting ? nil : "build queue not running"
    }
}
