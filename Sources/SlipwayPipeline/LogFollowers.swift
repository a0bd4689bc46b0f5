import Synchronization

/// Tells followers of a build's log that it grew or ended, so `?follow=true` streams
/// read the file only when there is something new (no polling of the disk).
public final class LogFollowers: Sendable {
    public enum Event: Sendable { case grew, ended }

    private let followers = Mutex<[Int64: [Int: AsyncStream<Event>.Continuation]]>([:])
    private let nextID = Atomic<Int>(0)

    public init() {}

    /// A stream of events for `buildID`, until the follower stops reading it.
    public func follow(_ buildID: Int64) -> AsyncStream<Event> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(1))
        followers.withLock { $0[buildID, default: [:]][id] = continuation }
        continuation.onTermination = { [weak self] _ in
            self?.followers.withLock { followers in
                followers[buildID]?[id] = nil
                if followers[buildID]?.isEmpty == true { followers[buildID] = nil }
            }
        }
        return stream
    }

    public func publish(_ buildID: Int64, _ event: Event) {
        let continuations = followers.withLock { Array(($0[buildID] ?? [:]).values) }
        for continuation in continuations {
            continuation.yield(event)
            if case .ended = event { continuation.finish() }
        }
    }
}
