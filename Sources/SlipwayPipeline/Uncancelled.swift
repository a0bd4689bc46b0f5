/// Runs `operation` outside the caller's cancellation: a canceled build must still record
/// how it ended (GRDB's async writes throw `CancellationError` in a canceled task).
func uncancelled<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await Task { try await operation() }.value
}
