import Synchronization

/// Tells followers of a build's log that it grew or ended, so `?follow=true` streams
/// read the file only when there is something new (no polling of the disk). Every
/// `stateCheckInterval` a follower is also told to look at its build's state, since a
/// build can become final without a log writer (canceled while queued, say). `close()`
/// (at shutdown) ends every stream, and any stream asked for afterwards.
public final class LogFollowers: Sendable {
    public enum Event: Sendable, Equatable { case grew, ended, checkState }

    private let state = Mutex<(followers: [Int64: [Int: AsyncStream<Event>.Continuation]], closed: Bool)>(([:], false))
    private let nextID = Atomic<Int>(0)
    private let stateCheckInterval: Duration

    public init(stateCheckInterval: Duration = .seconds(2)) {
        self.stateCheckInterval = stateCheckInterval
    }

    /// A stream of events for `buildID`, until the follower stops reading it, the build
    /// ends, or the followers are closed.
    public func follow(_ buildID: Int64) -> AsyncStream<Event> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(1))
        let interval = stateCheckInterval
        let ticker = Task {
            while (try? await Task.sleep(for: interval)) != nil { continuation.yield(.checkState) }
        }
        let added = state.withLock { state in
            guard !state.closed else { return false }
            state.followers[buildID, default: [:]][id] = continuation
            return true
        }
        guard added else {
            ticker.cancel()
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            ticker.cancel()
            self?.state.withLock { state in
                state.followers[buildID]?[id] = nil
                if state.followers[buildID]?.isEmpty == true { state.followers[buildID] = nil }
            }
        }
        return stream
    }

    public func publish(_ buildID: Int64, _ event: Event) {
        let continuations = state.withLock { Array(($0.followers[buildID] ?? [:]).values) }
        for continuation in continuations {
            continuation.yield(event)
            if case .ended = event { continuation.finish() }
        }
    }

    /// Ends every stream, now and from now on (graceful shutdown: an open follow must
    /// not keep the server waiting).
    public func close() {
        let all = state.withLock { state in
            state.closed = true
            return state.followers.values.flatMap(\.values)
        }
        for continuation in all { continuation.finish() }
    }

    /// Open streams, for tests and metrics.
    public var count: Int { state.withLock { $0.followers.values.reduce(0) { $0 + $1.count } } }
}
