import Logging
import SlipwayCore
import SlipwayStore

/// Writes that must not be lost (how a step or a build ended): retried while the store
/// cannot take them (a full disk, say), with a growing pause, until they are stored or
/// the daemon stops (a build left `running` then is recovered at the next start). A
/// refusal of the state machine, or of a write for an attempt whose build was claimed
/// again (`StaleAttempt`), is not retried: it will not change. A write that has
/// begun is carried to its end even when the caller is canceled (the store's contract).
enum StoreRetry {
    static func untilStored<T: Sendable>(
        _ what: String, logger: Logger, firstPause: Duration = .milliseconds(250), maxPause: Duration = .seconds(15),
        _ write: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        var pause = firstPause
        var failures = 0
        while true {
            do {
                let result = try await write()
                if failures > 0 {
                    logger.notice("stored after the store failed", metadata: ["what": "\(what)", "failures": "\(failures)"])
                }
                return result
            } catch let error as InvalidTransition {
                throw error
            } catch let error as StaleAttempt {
                throw error   // another replica runs the build now: no retry can store this
            } catch {
                failures += 1
                // Once, then every tenth: a full disk is not to flood the log it may share.
                if failures == 1 || failures % 10 == 0 {
                    logger.error("cannot store; retrying", metadata: ["what": "\(what)", "error": "\(error)", "failures": "\(failures)"])
                }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, maxPause)
            }
        }
    }
}
