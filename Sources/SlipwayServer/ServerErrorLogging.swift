import Hummingbird
import Logging

/// Every request that fails inside the daemon is logged with its cause (the routes log
/// the 503s they answer themselves), and answered 500 in JSON without the cause: it may
/// name paths or internals.
struct ServerErrorLogging: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError where error.status.code < 500 {
            throw error
        } catch {
            context.logger.error(
                "request failed",
                metadata: [
                    "method": "\(request.method)", "path": "\(request.uri.path)", "error": "\(error)",
                ])
            return JSONReply.error(.internalServerError, "internal error (logged by the daemon)")
        }
    }
}
