import Logging
import SlipwayCore
import SlipwayStore
import Synchronization

/// Copies one attempt's log into the `BuildLogArchive` (PostgreSQL) as it is written, so
/// that other replicas can show and follow it: what the log writes is gathered and
/// appended in order, one append at a time, each fenced by the attempt's claim. Once an
/// append is refused (the build was claimed again) nothing more is copied.
public final class LogArchiveWriter: Sendable {
    private let archive: any BuildLogArchive
    private let buildID: Int64
    private let fence: Int64
    private let logger: Logger
    private let state = Mutex(State())
    private let written = WakeSignal()

    private struct State {
        var pending: [UInt8] = []
        var appending = false
        var refused = false
        /// Bytes not kept while the archive could not take them (over `pendingLimit`).
        var dropped = 0
    }

    /// Appends of at most this many bytes; more waits for the next.
    static let chunkLimit = 256 * 1024
    /// Held at most while the database cannot be reached; more is dropped (and said).
    static let pendingLimit = 16 * 1024 * 1024

    public init(archive: any BuildLogArchive, buildID: Int64, fence: Int64, logger: Logger) {
        self.archive = archive
        self.buildID = buildID
        self.fence = fence
        self.logger = logger
    }

    /// Takes `bytes` (already masked); never waits.
    public func write(_ bytes: some Sequence<UInt8>) {
        let bytes = Array(bytes)
        let start = state.withLock { state -> Bool in
            guard !state.refused else { return false }
            if state.pending.count >= Self.pendingLimit {
                state.dropped += bytes.count
                return false
            }
            if state.dropped > 0 {
                state.pending.append(
                    contentsOf: Array("[\(state.dropped) bytes of log not kept: the database could not be reached]\n".utf8))
                state.dropped = 0
            }
            state.pending.append(contentsOf: bytes)
            guard !state.appending else { return false }
            state.appending = true
            return true
        }
        if start { Task { await appendPending() } }
    }

    /// Waits until everything written so far is appended (or refused), at most `limit`:
    /// a build's end is not held up for long by a database that cannot be reached.
    public func finish(within limit: Duration = .seconds(10)) async {
        let deadline = ContinuousClock.now + limit
        while state.withLock({ $0.appending }), ContinuousClock.now < deadline { await written.wait(timeout: .milliseconds(100)) }
    }

    private func appendPending() async {
        while true {
            let chunk: [UInt8]? = state.withLock { state in
                guard !state.pending.isEmpty, !state.refused else {
                    state.appending = false
                    return nil
                }
                let chunk = Array(state.pending.prefix(Self.chunkLimit))
                state.pending.removeFirst(chunk.count)
                return chunk
            }
            guard let chunk else { break }
            do {
                let kept = try await StoreRetry.untilStored("log", logger: logger) { [archive, buildID, fence] in
                    try await archive.appendLog(buildID: buildID, fence: fence, chunk)
                }
                if !kept { state.withLock { $0.refused = true } }
            } catch {
                logger.warning("cannot copy the build log into the database", metadata: ["error": "\(error)"])
            }
        }
        written.signal()
    }
}
