/// The states of a build (SPEC "Builds") and the only transitions between them.
///
/// ```
/// queued ──start──▶ running ──finish──▶ success | failure | error
///   │                 │ ├──crash (attempts left)──▶ queued
///   │                 │ └──crash (none left)──────▶ error
///   │                 └──checkpoint (shutdown)────▶ queued
///   └──cancel / supersede──▶ canceled / superseded  (from running too)
/// ```
/// Terminal states never change again.
public enum BuildState: String, Sendable, Codable, CaseIterable {
    case queued, running, success, failure, error, canceled, superseded

    public var isTerminal: Bool {
        switch self {
        case .queued, .running: false
        case .success, .failure, .error, .canceled, .superseded: true
        }
    }
}

/// Something that happens to a build.
public enum BuildEvent: Sendable, Equatable {
    case start
    /// The steps ended; `outcome` must be success, failure or error.
    case finish(BuildState)
    case cancel
    case supersede
    /// The daemon died while the build ran; `attemptsLeft` says whether it may run again.
    case crashRecovered(attemptsLeft: Bool)
    /// Graceful shutdown ran out of time: the build goes back to the queue as if never started.
    case checkpoint
}

public struct InvalidTransition: Error, Sendable, Equatable, CustomStringConvertible {
    public let from: BuildState
    public let event: BuildEvent
    public var description: String { "a \(from.rawValue) build cannot take \(event)" }
}

extension BuildState {
    /// The state after `event`, or `InvalidTransition`. Pure; tested for every pair.
    public func applying(_ event: BuildEvent) throws(InvalidTransition) -> BuildState {
        switch (self, event) {
        case (.queued, .start): return .running
        case (.queued, .cancel), (.running, .cancel): return .canceled
        case (.queued, .supersede), (.running, .supersede): return .superseded
        case (.running, .finish(let outcome)) where [.success, .failure, .error].contains(outcome): return outcome
        case (.running, .crashRecovered(let attemptsLeft)): return attemptsLeft ? .queued : .error
        case (.running, .checkpoint): return .queued
        default: throw InvalidTransition(from: self, event: event)
        }
    }
}
