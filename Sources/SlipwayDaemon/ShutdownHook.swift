import ServiceLifecycle

/// Runs `action` as soon as graceful shutdown begins. Listed last in the service group,
/// it is the first to hear of it (the group stops services in reverse order), before
/// the server waits for its open requests.
struct ShutdownHook: Service {
    let action: @Sendable () -> Void

    func run() async throws {
        try? await gracefulShutdown()
        action()
    }
}
