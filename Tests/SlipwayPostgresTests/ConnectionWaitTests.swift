import Foundation
import SlipwayCore
import Synchronization
import Testing

@testable import SlipwayPostgres

/// The bound on a wait for a pooled connection (`ConnectionWait`), without a server: the
/// work and the question "is the server reachable?" are stand-ins that count their calls.
@Suite struct ConnectionWaitTests {
    let location = PostgresLocation(user: "slipway", host: "127.0.0.1", database: "slipway", tls: .disable)

    @Test func workThatBeginsAndEndsInTimeNeverAsksWhetherTheServerIsReachable() async throws {
        let asked = Atomic<Int>(0)
        // A limit far above any pause of a busy test process: the question may only come
        // from a wait that was not ended when its work was done.
        for index in 0..<50 {
            let value = try await ConnectionWait.bounded(
                .seconds(120), busyLimit: .seconds(121), location: location,
                reachable: {
                    asked.add(1, ordering: .relaxed); return true
                }
            ) { begin in
                try begin()
                return index
            }
            #expect(value == index)
        }
        #expect(asked.load(ordering: .relaxed) == 0, "each question opens a connection of its own")
    }

    @Test func aWaitThatOutlastsTheLimitOnAnUnreachableServerFailsNamingTheServer() async throws {
        let asked = Atomic<Int>(0)
        do {
            _ = try await ConnectionWait.bounded(
                .milliseconds(50), location: location,
                reachable: {
                    asked.add(1, ordering: .relaxed); return false
                }
            ) { _ in
                try await Task.sleep(for: .seconds(30))
                return 0
            }
            Issue.record("the wait did not end")
        } catch let error as ConnectionWaitExpired {
            #expect("\(error)".contains("127.0.0.1:5432"))
        }
        #expect(asked.load(ordering: .relaxed) == 1)
    }

    @Test func workThatHasBegunIsWaitedForPastTheLimit() async throws {
        let value = try await ConnectionWait.bounded(.milliseconds(20), location: location, reachable: { false }) { begin in
            try begin()
            try await Task.sleep(for: .milliseconds(200))
            return 7
        }
        #expect(value == 7)
    }
}
