/// Push-storm protection for the queue. Once a newer push has stopped a running build of
/// a lane (cancel_superseded), the lane's next build waits until pushes to that lane have
/// paused for `quiet`, and at most `longest` after the stop. A burst of pushes then builds
/// its newest commit once, instead of starting a build and killing it at every push: the
/// same idea as Jenkins' quiet period, but only for a lane that is being pushed to faster
/// than its builds can run. A lone push never waits.
///
/// Times are seconds on a monotonic clock; nothing here reads a clock.
public struct LaneSettling: Sendable, Equatable {
    /// How long a lane's pushes must pause before its next build starts.
    public static let quiet = 0.5
    /// The longest a lane waits for that pause, counted from the stop that began it.
    public static let longest = 10.0

    private struct Lane: Sendable, Equatable {
        var since: Double
        var lastPush: Double
        var release: Double { min(lastPush + LaneSettling.quiet, since + LaneSettling.longest) }
    }

    private var lanes: [String: Lane] = [:]

    public init() {}

    /// A push to `lane` stopped its running build: the lane settles (or goes on settling).
    public mutating func runningBuildStopped(lane: String, at time: Double) {
        if let current = lanes[lane] {
            lanes[lane]?.lastPush = max(current.lastPush, time)
        } else {
            lanes[lane] = Lane(since: time, lastPush: time)
        }
    }

    /// A push to `lane` was queued; it restarts the pause only of a settling lane.
    public mutating func pushed(lane: String, at time: Double) {
        guard let current = lanes[lane] else { return }
        lanes[lane]?.lastPush = max(current.lastPush, time)
    }

    /// The lanes whose builds must not start at `time`; lanes that have settled are let go.
    public mutating func held(at time: Double) -> Set<String> {
        lanes = lanes.filter { $0.value.release > time }
        return Set(lanes.keys)
    }

    /// Whether `lane` is held at `time` (without letting any lane go).
    public func holds(_ lane: String, at time: Double) -> Bool {
        lanes[lane].map { $0.release > time } ?? false
    }

    /// When the first held lane is let go, if any is held.
    public var nextRelease: Double? { lanes.values.map(\.release).min() }

    public var isEmpty: Bool { lanes.isEmpty }
}
