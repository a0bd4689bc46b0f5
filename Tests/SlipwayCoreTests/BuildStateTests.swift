import SlipwayCore
import Testing

@Suite struct BuildStateTests {
    static let events: [BuildEvent] = [
        .start, .finish(.success), .finish(.failure), .finish(.error), .finish(.canceled), .finish(.queued),
        .cancel, .supersede, .crashRecovered(attemptsLeft: true), .crashRecovered(attemptsLeft: false), .checkpoint,
    ]

    /// The whole transition table; everything not listed must be refused.
    static let allowed: [BuildState: [BuildEvent: BuildState]] = [
        .queued: [.start: .running, .cancel: .canceled, .supersede: .superseded],
        .running: [
            .finish(.success): .success, .finish(.failure): .failure, .finish(.error): .error,
            .cancel: .canceled, .supersede: .superseded,
            .crashRecovered(attemptsLeft: true): .queued, .crashRecovered(attemptsLeft: false): .error,
            .checkpoint: .queued,
        ],
    ]

    @Test func everyStateAndEventPairFollowsTheTable() {
        for state in BuildState.allCases {
            for event in Self.events {
                let expected = Self.allowed[state]?[event]
                let actual = try? state.applying(event)
                #expect(actual == expected, "\(state) + \(event)")
            }
        }
    }

    @Test func terminalStatesNeverChange() {
        for state in BuildState.allCases where state.isTerminal {
            for event in Self.events {
                #expect(throws: InvalidTransition.self) { try state.applying(event) }
            }
        }
    }
}

extension BuildEvent: Hashable {
    public func hash(into hasher: inout Hasher) { hasher.combine("\(self)") }
}
