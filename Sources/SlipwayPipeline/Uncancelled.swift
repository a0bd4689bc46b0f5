/// Runs `operation` to its end although the caller is cancelled, and waits for it: for
/// the one action that must finish once begun whatever happens to its caller (rolling a
/// failed Kubernetes rollout back while the daemon shuts down). Store writes need no
/// such thing: the store carries every write it begins to its end.
func uncancelled<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await Task { try await operation() }.value
}
